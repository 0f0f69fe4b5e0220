"""The dashboard in a real browser: Debian's chromium through Playwright, the `roundtable dashboard` process,
and real stdio servers changing the team while the page is open."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import Dashboard, Team, browser
from tests.http import serving
from tests.stdio import ROOT

LIVE = 2_000
"""The issue's bound: a change by another process appears within 2 s, without a reload (ms)."""
HOSTILE = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">'


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with browser() as launched:
        yield launched


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 1400, "height": 1600})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda e: errors.append(str(e)))
    yield opened
    context.close()
    assert errors == [], errors


def expect_text(page: Any, selector: str, text: str, timeout: int = LIVE) -> None:
    from playwright.sync_api import expect

    expect(page.locator(selector).filter(has_text=text).first).to_be_visible(timeout=timeout)


def test_the_page_shows_the_team_real_servers_made_and_follows_it_live(tmp_path: Path, page: Any) -> None:
    db = tmp_path / "team.db"
    with Team(db) as team:
        team.join("ana", "coordination", "messaging", "monitoring", "knowledge")
        team.join("bo", "coordination", "messaging")
        team.call("ana", "agent_register", activity="planning the release")
        first = team.call("ana", "task_create", title="write the schema", priority="high")["task"]["id"]
        second = team.call("ana", "task_create", title="review the schema", depends_on=[first])["task"]["id"]
        with Dashboard(db) as dash:
            page.goto(dash.url)
            expect_text(page, "#live", "live", timeout=10_000)
            expect_text(page, "#agents tr[data-agent=ana]", "online")
            expect_text(page, "#agents tr[data-agent=ana]", "planning the release")
            expect_text(page, "[data-column=open]", "write the schema")
            expect_text(page, "[data-column=open]", f"after #{first}")

            team.call("bo", "task_claim", task_id=first)
            expect_text(page, "[data-column=claimed]", "held by bo")
            expect_text(page, "#agents tr[data-agent=bo]", f"#{first} write the schema")

            team.call("ana", "message_send", to=["bo"], subject="schema", body="ping me when done", ack_required=True)
            expect_text(page, "#mail", "ping me when done")
            expect_text(page, "#mail", "bo (unread)")

            proposed = team.call("ana", "consensus_propose", title="Ship on Friday?", voters=["ana", "bo"])
            proposal = proposed["proposal"]["id"]
            team.call("bo", "consensus_vote", proposal_id=proposal, choice="approve", rationale="tests pass")
            expect_text(page, f"[data-proposal='{proposal}']", "bo voted approve")
            expect_text(page, f"[data-proposal='{proposal}']", "tests pass")
            expect_text(page, "#feed", "proposal.voted")

            page.locator(f"[data-column=claimed] [data-task='{first}']").click()
            expect_text(page, "#task-dialog", "History")
            expect_text(page, "#task-dialog .history", "task.claimed")
            page.keyboard.press("Escape")

            team.call("ana", "knowledge_add", title="Migrations", body="run them on a copy first", kind="howto")
            page.fill("#q", "copy")
            page.click("#search button")
            expect_text(page, "#hits", "Migrations")
            assert page.locator(f"[data-column=open] [data-task='{second}']").count() == 1

            team.call("ana", "task_update", task_id=first, status="cancelled", reason="plan changed")
            expect_text(page, f"[data-column=open] [data-task='{second}']", f"never ready: #{first} ended undone")


def test_hostile_names_and_text_are_shown_as_text(tmp_path: Path, page: Any) -> None:
    db = tmp_path / "team.db"
    with Team(db) as team:
        team.join("ana", "coordination", "messaging", "monitoring")
        team.call("ana", "agent_register", activity=HOSTILE)
        team.call("ana", "task_create", title=HOSTILE)
        team.call("ana", "message_send", to=["ana"], subject=HOSTILE, body=HOSTILE)
        team.call("ana", "consensus_propose", title=HOSTILE, voters=["ana"])
        team.join("ana", "knowledge")
        team.call("ana", "knowledge_add", title=f"pwn {HOSTILE}", body=f"pwn {HOSTILE}")
        team.call("ana", "skill_define", name="pwn", description=HOSTILE, steps=[HOSTILE])
        with Dashboard(db) as dash:
            page.goto(dash.url)
            expect_text(page, "[data-column=open]", "<script>window.pwned=1</script>", timeout=10_000)
            expect_text(page, "#agents", "<img src=x")
            expect_text(page, "#mail", "<script>")
            expect_text(page, "#proposals", "<script>")
            expect_text(page, "#skills", "<img src=x")
            page.fill("#q", "pwn")
            page.click("#search button")
            expect_text(page, "#hits", "pwn <script>window.pwned=1</script>")
            expect_text(page, "#hits", 'onerror="window.pwned=2"')
            assert page.evaluate("window.pwned") is None
            assert page.locator("main img").count() == 0
            assert page.locator("main script").count() == 0


def test_a_reconnect_misses_no_event(tmp_path: Path, page: Any) -> None:
    db = tmp_path / "team.db"
    with Team(db) as team:
        team.join("ana", "coordination", "messaging")
        team.call("ana", "task_create", title="before the outage")
        dash = Dashboard(db).start()
        try:
            page.goto(dash.url)
            expect_text(page, "[data-column=open]", "before the outage", timeout=10_000)
            dash.stop()  # the stream breaks; the page keeps its EventSource and retries
            expect_text(page, "#live", "reconnecting", timeout=5_000)
            for n in range(3):
                team.call("ana", "task_create", title=f"during the outage {n}")
            team.call("ana", "message_send", to=["ana"], body="sent while nobody watched")
            dash = Dashboard(db, port=dash.port).start()
            expect_text(page, "[data-column=open]", "during the outage 2", timeout=5_000)
            expect_text(page, "#feed", "message.sent")
            ids = page.eval_on_selector_all("#feed [data-event]", "els => els.map(e => e.dataset.event)")
            shown = sorted(int(i) for i in ids)
            assert shown == list(range(1, shown[-1] + 1)), "the feed has a gap"
            with contextlib.closing(sqlite3.connect(db)) as conn:
                assert shown[-1] == conn.execute("SELECT max(id) FROM events").fetchone()[0]
        finally:
            dash.stop()


def test_twenty_open_pages_are_sent_the_same_update(tmp_path: Path) -> None:
    # every open stream computed the team's state on its own after each commit (its own `now`, its own
    # reads): twenty pages cost twenty computations per commit. One computation now serves every stream.
    db = tmp_path / "team.db"
    with Team(db) as team:
        team.join("ana", "coordination")
        team.call("ana", "task_create", title="before anyone watched")
    with Dashboard(db) as dash, contextlib.ExitStack() as stack:
        streams = [stack.enter_context(urllib.request.urlopen(dash.url + "stream", timeout=20)) for _ in range(20)]

        def next_state(stream: Any) -> bytes:
            while not stream.readline().startswith(b"event: state"):
                pass
            data: bytes = stream.readline()
            return data

        for stream in streams:
            next_state(stream)
        with contextlib.closing(sqlite3.connect(db)) as conn, conn:  # one commit by another process
            conn.execute(
                "INSERT INTO events(ts, agent_id, agent_name, kind, object_type, object_id, data)"
                " VALUES (?, NULL, 'ana', 'task.progress', 'task', '1', '{\"progress\":40}')",
                (time.time(),),
            )
        updates = []
        for stream in streams:
            update = next_state(stream)
            while b"task.progress" not in update:
                update = next_state(stream)
            updates.append(update)
        assert len(set(updates)) == 1  # byte for byte: one state (one `now`), the same events


def _outward_address() -> str:
    """An address of this machine that is not loopback (falls back to 127.0.0.1 when it has none)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET: nothing is sent
            return str(s.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def _status(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_beyond_loopback_a_request_without_the_token_is_refused(tmp_path: Path, page: Any) -> None:
    db = tmp_path / "team.db"
    with Team(db) as team:
        team.join("ana", "coordination")
        team.call("ana", "task_create", title="secret plans")
    refused = subprocess.run(
        [sys.executable, "-m", "servers.cli", "dashboard", "--db", str(db), "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        env={k: v for k, v in os.environ.items() if k != "ROUNDTABLE_DASHBOARD_TOKEN"},
    )
    assert refused.returncode == 2 and "without a token" in refused.stderr
    with Dashboard(db, "--host", "0.0.0.0", "--token", "s3cret-token") as dash:
        base = f"http://{_outward_address()}:{dash.port}"
        for path in ("/", "/api/state", "/stream", "/static/dashboard.js", "/api/task/1"):
            assert _status(base + path) == 401, path
            assert _status(base + path, {"Authorization": "Bearer wrong"}) == 401, path
        assert _status(base + "/api/state", {"Authorization": "Bearer s3cret-token"}) == 200
        page.goto(base + "/?token=wrong")
        assert "needs a token" in page.content()
        page.goto(base + "/?token=s3cret-token")
        assert "token" not in page.url
        expect_text(page, "[data-column=open]", "secret plans", timeout=10_000)
    with Dashboard(db) as dash:  # bound to loopback: only loopback Host names (no DNS rebinding)
        assert _status(dash.url, {"Host": "attacker.example"}) == 403
        assert _status(dash.url + "api/state") == 200
        # '²' is a digit to str.isdigit, not to int(): these were 500s
        assert _status(dash.url + "api/task/%C2%B2") == 400
        assert _status(dash.url + "api/mail?before=%C2%B2") == 400


def _token(db: Path, *args: str) -> str:
    """`roundtable token ARGS` on this team, as a person runs it (a sync test: the browser's loop is running)."""
    argv = [sys.executable, "-m", "servers.cli", "token", *args, "--db", str(db)]
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30).stdout.split()[-1]


def test_a_workers_token_does_not_open_it_and_a_revoked_token_stops_its_open_stream(tmp_path: Path) -> None:
    # The page shows every agent's mail, which over MCP an agent reads only of its own: a worker's token
    # (any agent on the team) used to open it, and a stream opened before a token was revoked went on
    # sending the team's state (and new mail) for as long as it stayed open.
    db = tmp_path / "team.db"
    with Team(db) as team:
        team.join("ana", "messaging")
        team.call("ana", "message_send", to=["ana"], body="only for ana")
    worker = _token(db, "create", "bo")
    argv = [sys.executable, "-m", "servers.cli", "dashboard", "--db", str(db), "--host", "0.0.0.0", "--port", "0"]
    env = {k: v for k, v in os.environ.items() if k != "ROUNDTABLE_DASHBOARD_TOKEN"}
    refused = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env)
    assert refused.returncode == 2 and "without a token" in refused.stderr  # a worker's token opens nothing
    watcher = _token(db, "create", "watcher", "--role", "observer")
    admin = _token(db, "create", "root", "--role", "admin")
    with Dashboard(db, "--host", "0.0.0.0") as dash:
        base = f"http://{_outward_address()}:{dash.port}"
        assert _status(base + "/api/mail", {"Authorization": f"Bearer {worker}"}) == 401
        assert _status(base + "/?token=" + worker) == 401
        assert _status(base + "/api/mail", {"Authorization": f"Bearer {admin}"}) == 200
        request = urllib.request.Request(base + "/stream", headers={"Authorization": f"Bearer {watcher}"})
        with urllib.request.urlopen(request, timeout=10) as stream:
            while not stream.readline().startswith(b"event: state"):
                pass
            _token(db, "revoke", "watcher")  # a commit: the stream wakes, checks its token, and ends
            assert _status(base + "/api/mail", {"Authorization": f"Bearer {watcher}"}) == 401
            with Team(db) as team:
                team.join("ana", "messaging")
                team.call("ana", "message_send", to=["ana"], body="after the revocation")
            rest = stream.read()  # returns once the server ends the stream (the timeout fails the test)
        assert b"event: state" not in rest and b"after the revocation" not in rest


def test_on_loopback_a_request_through_a_proxy_needs_a_token(tmp_path: Path) -> None:
    # Behind a reverse proxy on this machine (nginx: proxy_pass http://127.0.0.1:PORT, which sends
    # Host: 127.0.0.1:PORT) every visitor from the internet came from loopback and named a loopback host: the
    # dashboard opened to all of them without a token. A request carrying a header a proxy adds now needs one.
    db = tmp_path / "team.db"
    with Team(db) as team:
        team.join("ana", "messaging")
        team.call("ana", "message_send", to=["ana"], body="only for the team")
    with Dashboard(db) as dash:
        host = {"Host": f"127.0.0.1:{dash.port}"}
        assert _status(dash.url + "api/mail", host) == 200  # a browser on this machine, as before
        for header in (
            {"X-Forwarded-For": "203.0.113.9"},
            {"X-Real-IP": "203.0.113.9"},
            {"Forwarded": "for=203.0.113.9;proto=https"},
            {"X-Forwarded-Host": "team.example.com"},
            {"X-Forwarded-Proto": "https"},
            {"Via": "1.1 proxy"},
        ):
            for path in ("", "api/mail", "stream", "static/dashboard.js"):
                assert _status(dash.url + path, host | header) == 401, (path, header)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(
                urllib.request.Request(dash.url, headers={"X-Forwarded-For": "203.0.113.9"}), timeout=5
            )
        assert "needs a token for a request through a proxy" in refused.value.read().decode()
        watcher = _token(db, "create", "watcher", "--role", "observer")
        proxied = host | {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
        assert _status(dash.url + "api/mail", proxied | {"Authorization": f"Bearer {watcher}"}) == 200
        worker = _token(db, "create", "bo")
        assert _status(dash.url + "api/mail", proxied | {"Authorization": f"Bearer {worker}"}) == 401
        conn = http.client.HTTPConnection("127.0.0.1", dash.port, timeout=5)
        try:
            conn.request("GET", f"/?token={watcher}", headers=proxied)
            answer = conn.getresponse()
            assert answer.status == 303 and answer.getheader("location") == "/"
            assert "secure" in (answer.getheader("set-cookie") or "").lower()  # the proxy spoke https
        finally:
            conn.close()
    with Dashboard(db, "--token", "s3cret-token") as dash:
        proxied = {"X-Forwarded-For": "203.0.113.9"}
        assert _status(dash.url + "api/mail", proxied) == 401
        assert _status(dash.url + "api/mail", proxied | {"Authorization": "Bearer s3cret-token"}) == 200


def _cookie_from(base: str, token: str) -> str:
    """The dashboard's cookie as `GET /?token=…` sets it."""
    status, _, cookie = _visit(base, f"/?token={token}")
    assert status == 303, status
    found = re.search(r"roundtable_dashboard=([^;]*)", cookie)
    assert found, cookie
    return found.group(1)


def _visit(base: str, target: str, headers: dict[str, str] | None = None) -> tuple[int, str, str]:
    """The status, Location and Set-Cookie of GET `target` sent as is."""
    parts = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        conn.request("GET", target, headers=headers or {})
        answer = conn.getresponse()
        return answer.status, answer.getheader("location") or "", answer.getheader("set-cookie") or ""
    finally:
        conn.close()


def test_the_cookie_holds_a_pass_that_is_no_token_and_ends_with_its_token(tmp_path: Path) -> None:
    # The cookie held the raw bearer token, which also opens the MCP endpoints of `roundtable serve`: any
    # program that read the browser's cookies had the agent's token. It now holds the token's id and an HMAC
    # of it under a key drawn by the dashboard process: it opens that dashboard only, while its token is live.
    db = tmp_path / "team.db"
    with Team(db) as team:
        team.join("ana", "messaging")
        team.call("ana", "message_send", to=["ana"], body="only for the team")
    watcher = _token(db, "create", "watcher", "--role", "observer")
    token_id, secret = watcher.split("_", 2)[1:]
    with Dashboard(db, "--host", "0.0.0.0") as dash, serving(db, logs=tmp_path) as served:
        base = f"http://{_outward_address()}:{dash.port}"
        cookie = _cookie_from(base, watcher)
        assert watcher not in cookie and secret not in cookie and cookie.startswith(f"{token_id}.")
        assert _status(base + "/api/mail", {"Cookie": f"roundtable_dashboard={cookie}"}) == 200
        for forged in (watcher, f"{token_id}.{'0' * 64}", f"-.{cookie.split('.')[1]}", cookie + "0", ""):
            assert _status(base + "/api/mail", {"Cookie": f"roundtable_dashboard={forged}"}) == 401, forged
        mcp = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        initialize = json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "t", "version": "1"},
                },
            }
        ).encode()

        def at_serve(bearer: str) -> int:
            request = urllib.request.Request(
                served.url("coordination"), data=initialize, headers=mcp | {"Authorization": f"Bearer {bearer}"}
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    return int(answer.status)
            except urllib.error.HTTPError as exc:
                return int(exc.code)

        assert at_serve(watcher) == 200 and at_serve(cookie) == 401  # the cookie is no token there
        with Dashboard(db, "--host", "0.0.0.0") as other:  # another dashboard process: its own key
            assert (
                _status(
                    f"http://{_outward_address()}:{other.port}/api/mail", {"Cookie": f"roundtable_dashboard={cookie}"}
                )
                == 401
            )
        request = urllib.request.Request(base + "/stream", headers={"Cookie": f"roundtable_dashboard={cookie}"})
        with urllib.request.urlopen(request, timeout=10) as stream:
            while not stream.readline().startswith(b"event: state"):
                pass
            _token(db, "revoke", "watcher")
            assert _status(base + "/api/mail", {"Cookie": f"roundtable_dashboard={cookie}"}) == 401
            rest = stream.read()  # returns once the server ends the stream (the timeout fails the test)
        assert b"event: state" not in rest
    with Dashboard(db, "--host", "0.0.0.0", "--token", "s3cret-token") as dash:
        base = f"http://{_outward_address()}:{dash.port}"
        cookie = _cookie_from(base, "s3cret-token")
        assert "s3cret" not in cookie
        assert _status(base + "/api/mail", {"Cookie": f"roundtable_dashboard={cookie}"}) == 200


def _redirect(base: str, target: str) -> tuple[int, str]:
    """The status and Location of GET `target` sent as is (urllib would follow the redirect, or tidy the path)."""
    status, location, _ = _visit(base, target)
    return status, location


def test_the_token_link_leads_only_to_the_dashboard_whatever_other_cookies_there_are(tmp_path: Path, page: Any) -> None:
    # /?token= answers with a redirect to the same path without the token: for //evil.example/?token=…
    # that was 'Location: //evil.example/', which a browser reads as another host, so a link on the
    # dashboard's own address (with any observer's token) led to a page of the sender's choosing.
    db = tmp_path / "team.db"
    with Team(db) as team:
        team.join("ana", "coordination")
    watcher = _token(db, "create", "watcher", "--role", "observer")
    with Dashboard(db, "--host", "0.0.0.0") as dash:
        base = f"http://{_outward_address()}:{dash.port}"
        for target in ("//evil.example/", "///evil.example/", "/%2F%2Fevil.example/", "/\\evil.example/", "/"):
            status, location = _redirect(base, f"{target}?token={watcher}")
            assert status == 303 and location.startswith("/"), (target, location)
            assert urllib.parse.urljoin(base + "/", location).startswith(base + "/"), (target, location)
        # another site's cookie for this host, which http.cookies finds malformed, used to hide the dashboard's
        # (it stopped parsing there): every request of the page was then refused
        page.context.add_cookies([{"name": "pref", "value": '"unclosed', "url": base + "/"}])
        page.goto(base + f"//evil.example/?token={watcher}")
        assert page.url.startswith(base + "/") and "token" not in page.url, page.url
        page.goto(base + "/")
        expect_text(page, "#agents", "ana", timeout=10_000)


def test_a_port_out_of_range_is_refused_in_one_line_without_a_traceback(tmp_path: Path) -> None:
    # --port 99999 got past argparse's int and ended in bind()'s OverflowError traceback.
    db = tmp_path / "team.db"
    with Team(db) as team:
        team.join("ana", "coordination")
    argv = [sys.executable, "-m", "servers.cli", "dashboard", "--db", str(db), "--port", "99999"]
    refused = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert refused.returncode == 2
    assert "'99999' is not a port: give a number from 0 to 65535" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_screenshot_of_the_demo_team_at_work(tmp_path: Path, page: Any) -> None:
    """The README's picture: the demo's team on the page, two of its agents back online and at work on new
    tasks through real servers. Saved with the run; ROUNDTABLE_SCREENSHOT=1 also writes it to
    docs/dashboard.png."""
    db = tmp_path / "demo.db"
    played = subprocess.run(
        [sys.executable, "-m", "servers.cli", "demo", "--db", str(db)], capture_output=True, text=True, timeout=180
    )
    assert played.returncode == 0, played.stdout[-2000:] + played.stderr[-2000:]
    with Team(db) as team, Dashboard(db) as dash:
        team.join("planner", "coordination", "monitoring")
        team.join("ana", "coordination", "monitoring")
        first = team.call("planner", "task_create", title="design the CSV export", priority="high")["task"]["id"]
        team.call("planner", "task_create", title="implement the CSV export", depends_on=[first])
        team.call("planner", "agent_register", activity="planning the CSV export")
        assert team.call("ana", "task_claim", task_id=first)["task"]["holder"] == "ana"
        team.call("ana", "agent_register", activity="designing the CSV export")
        page.set_viewport_size({"width": 1400, "height": 1300})
        page.goto(dash.url)
        expect_text(page, "#proposals", "Ship on Friday", timeout=10_000)
        expect_text(page, "[data-column=claimed]", "design the CSV export", timeout=10_000)
        shot = tmp_path / "dashboard.png"
        page.screenshot(path=str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("ROUNDTABLE_SCREENSHOT") == "1":
        shutil.copy(shot, ROOT / "docs" / "dashboard.png")


@contextlib.contextmanager
def demo_with_the_dashboard(*args: str, **env: str) -> Iterator[subprocess.Popen[str]]:
    """`roundtable demo --dashboard ARGS` running (a browser that opens nothing), ended and reaped after."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "PYTHONPATH")} | {"BROWSER": "true"} | env
    proc = subprocess.Popen(
        [sys.executable, "-m", "servers.cli", "demo", "--dashboard", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_demo_with_the_dashboard_shows_the_demo_team_while_it_plays(tmp_path: Path) -> None:
    with demo_with_the_dashboard("--db", str(tmp_path / "demo.db")) as proc:
        assert proc.stderr is not None
        url = ""
        for line in proc.stderr:
            found = re.search(r"live at (http://\S+?/)", line)
            if found:
                url = found.group(1)
                break
        assert url, "no dashboard URL was printed"
        deadline = time.monotonic() + 120
        names: set[str] = set()
        while time.monotonic() < deadline and names != {"ana", "bo", "planner"}:
            with urllib.request.urlopen(url + "api/state", timeout=5) as r:
                names = {a["name"] for a in json.load(r)["agents"]}
            time.sleep(0.2)
        assert names == {"ana", "bo", "planner"}
        for line in proc.stderr:
            if "keeps showing the team" in line:
                break
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 0


def test_demo_with_the_dashboard_on_a_fresh_file_says_so_and_keep_prints_where_it_is(tmp_path: Path) -> None:
    """`roundtable demo --dashboard --keep` with no --db: a fresh temporary file, not a team the demo joins, and
    kept (its path printed) when the dashboard is stopped."""
    with demo_with_the_dashboard("--keep", TMPDIR=str(tmp_path), NO_COLOR="1") as proc:
        assert proc.stderr is not None and proc.stdout is not None
        for line in proc.stderr:
            if "keeps showing the team" in line:
                break
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 0
        out = proc.stdout.read()
    [folder] = list(tmp_path.glob("roundtable-demo-*"))
    db = folder / "roundtable.db"
    assert f"database: a fresh temporary file, {db}" in out and "join that team" not in out, out
    assert "✓ all " in out and f"database kept: {db}" in out and db.is_file(), out
