"""roundtable-knowledge: the team's shared memory (facts, decisions, how-tos, experiences) and its skills.

A thin MCP adapter over shared/store/knowledge (entries.py, search.py, skills.py); no SQL here. Skills are
also served as MCP prompts, read from the database on every request, so skills another process defines
appear too.
"""

from __future__ import annotations

from collections.abc import Sequence

from mcp.server.mcpserver import MCPServer

from servers.knowledge import entries, prompts, skills
from shared.config import Settings
from shared.frame.notify import prompts_watcher
from shared.frame.runtime import Runtime, create_server, run_main
from shared.rules.clock import Clock, system_clock

PROMPTS_POLL_SECONDS = 0.5  # a prompt menu needs no faster; older clients that listed prompts keep it polling
DESCRIPTION = "Roundtable knowledge server: a shared, searchable knowledge base, experience reports and skills."

INSTRUCTIONS = """\
The team's shared memory, in one Roundtable database. Before starting something, search what others
learned: knowledge_query (words, kind, tags, author, age) and knowledge_get for an entry in full with its
history. Record facts, decisions, how-tos and post-mortems with knowledge_add (correct an entry with
supersedes=<id>, never by adding a silent twin); share what worked or failed with experience_share.
Skills are named procedures: skill_list finds them, skill_execute renders one with your arguments,
skill_define and skill_compose make new ones. Skills also appear as prompts in the client's prompt menu.
"""


def build_server(settings: Settings, clock: Clock = system_clock) -> MCPServer[Runtime]:
    mcp = create_server(
        "knowledge",
        settings,
        instructions=INSTRUCTIONS,
        clock=clock,
        background=[prompts_watcher(prompts.fingerprint, interval=PROMPTS_POLL_SECONDS)],
    )
    entries.register(mcp)
    skills.register(mcp)
    prompts.serve(mcp)
    return mcp


def main(argv: Sequence[str] | None = None) -> None:
    run_main("knowledge", build_server, DESCRIPTION, argv)
