-- Consensus: proposals (decisions and improvements), their electorate snapshot, one vote per agent,
-- and evidence attached to improvements by sandbox_test.
-- options: JSON array of 2-10 distinct strings ('abstain' is reserved). electorate: how the electors were
-- chosen ('present', 'named' or 'role:<role>'); the electors themselves are rows of proposal_electors,
-- fixed when the proposal opens. quorum: votes cast (abstentions included) needed for a decision.
-- details: JSON; for improvements {"change", "why", "expected_effect"}. A proposal leaves 'open' exactly
-- once, by `UPDATE … WHERE status = 'open'`, whichever process settles it.

CREATE TABLE proposals (
    id             INTEGER PRIMARY KEY,
    kind           TEXT NOT NULL DEFAULT 'decision' CHECK (kind IN ('decision', 'improvement')),
    title          TEXT NOT NULL,
    description    TEXT NOT NULL DEFAULT '',
    options        TEXT NOT NULL,
    rule           TEXT NOT NULL CHECK (rule IN ('majority', 'two_thirds', 'unanimous')),
    quorum         INTEGER NOT NULL,
    electorate     TEXT NOT NULL,
    proposer_id    TEXT NOT NULL,
    status         TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'passed', 'rejected', 'failed')),
    outcome        TEXT,
    outcome_reason TEXT,
    details        TEXT NOT NULL DEFAULT '{}',
    created_at     REAL NOT NULL,
    deadline       REAL NOT NULL,
    closed_at      REAL
);
CREATE INDEX proposals_open ON proposals(deadline) WHERE status = 'open';
CREATE INDEX proposals_closed ON proposals(closed_at) WHERE status != 'open';

CREATE TABLE proposal_electors (
    proposal_id INTEGER NOT NULL REFERENCES proposals(id) ON DELETE CASCADE,
    agent_id    TEXT NOT NULL,
    PRIMARY KEY (proposal_id, agent_id)
) WITHOUT ROWID;
CREATE INDEX proposal_electors_by_agent ON proposal_electors(agent_id, proposal_id);

CREATE TABLE votes (
    proposal_id INTEGER NOT NULL REFERENCES proposals(id) ON DELETE CASCADE,
    agent_id    TEXT NOT NULL,
    choice      TEXT NOT NULL,
    rationale   TEXT,
    cast_at     REAL NOT NULL,
    changes     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (proposal_id, agent_id)
) WITHOUT ROWID;

CREATE TABLE proposal_evidence (
    id          INTEGER PRIMARY KEY,
    proposal_id INTEGER NOT NULL REFERENCES proposals(id) ON DELETE CASCADE,
    agent_id    TEXT NOT NULL,
    command     TEXT NOT NULL,
    directory   TEXT NOT NULL DEFAULT '.',
    exit_code   INTEGER,
    timed_out   INTEGER NOT NULL DEFAULT 0,
    duration    REAL NOT NULL,
    output_tail TEXT NOT NULL DEFAULT '',
    output_bytes INTEGER NOT NULL DEFAULT 0,
    created_at  REAL NOT NULL
);
CREATE INDEX proposal_evidence_by_proposal ON proposal_evidence(proposal_id, id);
