"""`roundtable`: the people's view of a Roundtable team — a demo, status, a live tail, a doctor, and
ready-to-paste client configs."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from shared.config import ROLES, ConfigError, default_db_path, load_settings
from shared.db.place import SCHEMES

# The commands' modules are imported by main() when their command runs: `roundtable hook`, started by Claude
# Code on every prompt, must not pay for the demo's MCP client or serve's web server (servers/cli/hook.py).


def database_path(flag: str | None) -> Path:
    raw = flag or os.environ.get("ROUNDTABLE_DB")
    return (Path(raw).expanduser() if raw else default_db_path(os.environ)).absolute()


def build_parser() -> argparse.ArgumentParser:
    from servers.cli import serve
    from shared import __version__

    p = argparse.ArgumentParser(prog="roundtable", description=__doc__)
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_db(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument(
            "--db", help="the SQLite file or postgresql:// URL (env ROUNDTABLE_DB; default: per-user data dir)"
        )
        return sp

    play = sub.add_parser("demo", help="watch three agents work as a team through real servers (about 10 s)")
    play.add_argument("--db", help="play on this SQLite file instead of a fresh temporary one")
    play.add_argument("--keep", action="store_true", help="keep the temporary database and print its path")
    play.add_argument("--dashboard", action="store_true", help="watch the team live in your browser while it plays")
    st = with_db(sub.add_parser("status", help="agents, tasks by state, open proposals, unread mail, health"))
    st.add_argument("--json", action="store_true", help="print the summary as JSON")
    tl = with_db(sub.add_parser("tail", help="follow the audit trail live (Ctrl-C to stop)"))
    tl.add_argument("-n", "--lines", type=int, default=10, metavar="N", help="show the last N events first (10)")
    tl.add_argument("--agent", help="only events by this agent")
    tl.add_argument("--kind", help="only this kind, or a prefix ending in '.', e.g. task.")
    tl.add_argument("--no-follow", action="store_true", help="print the last events and exit")
    with_db(sub.add_parser("doctor", help="check Python, uv, the database and that each server starts"))
    cfg = sub.add_parser("config", help="print a ready-to-paste client config for this machine")
    cfg.add_argument("client", choices=["claude-desktop", "claude-code"])
    cfg.add_argument(
        "--db", help="database path to put in the config (claude-code default: ./.roundtable/roundtable.db)"
    )
    cfg.add_argument(
        "--url", help="a `roundtable serve` base URL (e.g. https://team.example.com): connect to it with a token"
    )
    cfg.add_argument(
        "--hooks", action="store_true", help="claude-code: print the hooks block for .claude/settings.json"
    )
    srv = with_db(sub.add_parser("serve", help="serve the team over streamable HTTP on one port (tokens required)"))
    srv.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1; others need a token)")
    srv.add_argument("--port", type=int, default=serve.DEFAULT_PORT, help=f"port ({serve.DEFAULT_PORT})")
    tok = sub.add_parser("token", help="tokens for `roundtable serve`: create, list, revoke")
    tsub = tok.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    tc = with_db(tsub.add_parser("create", help="a token for agent NAME, printed once (only its hash is kept)"))
    tc.add_argument("name", help="the agent the token speaks for (an existing agent of that name, or a new one)")
    tc.add_argument("--role", choices=ROLES, default="worker", help="worker (default), observer or admin")
    tls = with_db(tsub.add_parser("list", help="the tokens issued (never the tokens themselves)"))
    tls.add_argument("--all", action="store_true", help="include revoked tokens")
    tr = with_db(tsub.add_parser("revoke", help="revoke a token by its id, or every token of an agent by name"))
    tr.add_argument("which", help="a token id (from token list) or an agent name")
    sub.add_parser(
        "hook",
        help="answer a Claude Code hook: hook SessionStart|UserPromptSubmit|Stop (see roundtable hook --help)",
        add_help=False,
    )
    dash = with_db(sub.add_parser("dashboard", help="a live page of the team for people, in your browser (read-only)"))
    dash.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1; others need a token)")
    dash.add_argument("--port", type=int, default=8770, help="port (8770; 0 picks a free one)")
    dash.add_argument("--token", help="the token other hosts must give (env ROUNDTABLE_DASHBOARD_TOKEN)")
    dash.add_argument("--open", action="store_true", help="open the page in your web browser")
    cp = sub.add_parser("copy", help="copy a team's SQLite file into a PostgreSQL database, whole or not at all")
    cp.add_argument("--from", dest="source", required=True, metavar="FILE", help="the team's SQLite file")
    cp.add_argument("--to", dest="target", required=True, metavar="URL", help="postgresql://user@host/database")
    cp.add_argument("--replace", action="store_true", help="delete what the target holds first (else refused)")
    con = sub.add_parser("connect", help="a local stdio MCP server forwarding to a `roundtable serve` endpoint")
    con.add_argument("url", help="the endpoint, e.g. https://team.example.com/coordination/mcp")
    con.add_argument("--token", help="the bearer token (env ROUNDTABLE_TOKEN; prefer it: flags show in ps)")
    return p


def _demo_with_dashboard(db: Path | None, keep: bool) -> int:
    """The demo on `db` (else a temporary file, removed at the end unless `keep`) with the dashboard open on it."""
    import shutil
    import tempfile

    from servers.cli import demo
    from servers.dashboard import command as dashboard

    folder = None if db is not None else Path(tempfile.mkdtemp(prefix="roundtable-demo-"))
    path = db if db is not None else Path(folder or ".") / "roundtable.db"
    try:
        settings = load_settings(argparse.Namespace(db=str(path)))
        return dashboard.alongside(settings, lambda: demo.run(path, keep, default_db=database_path(None)))
    finally:
        if folder is not None and not keep:
            shutil.rmtree(folder, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> None:
    given = list(sys.argv[1:] if argv is None else argv)
    if given[:1] == ["hook"]:  # the fast path: only the hook's own (lean) imports
        from servers.cli import hook

        sys.exit(hook.main(given[1:]))
    from servers.cli import clientconfig, demo, doctor, serve, team
    from shared.store.events import EventFilter

    args = build_parser().parse_args(given)
    if args.command == "demo":
        if args.db and args.db.strip().lower().startswith(SCHEMES):
            print(
                "roundtable demo plays on a SQLite file only (a fresh one, or --db FILE), never on a team's server;"
                " watch a PostgreSQL team with roundtable status, tail or dashboard --db URL",
                file=sys.stderr,
            )
            sys.exit(2)
        db = Path(args.db).expanduser().absolute() if args.db else None
        if args.dashboard:
            sys.exit(_demo_with_dashboard(db, args.keep))
        code = demo.run(db, args.keep, default_db=database_path(None))
        if code == 0:
            print("tip: `roundtable demo --dashboard` plays it while a page in your browser shows the team live")
        sys.exit(code)
    if args.command in ("status", "tail"):
        try:
            settings = load_settings(args)
        except ConfigError as exc:
            print(f"roundtable {args.command}: {exc}", file=sys.stderr)
            sys.exit(2)
        if args.command == "status":
            sys.exit(team.status(settings, as_json=args.json))
        wanted = EventFilter(agent=args.agent, kind=args.kind)
        sys.exit(team.tail(settings, wanted, backlog=max(args.lines, 0), keep_following=not args.no_follow))
    if args.command == "doctor":
        try:
            place = load_settings(args).db
        except ConfigError as exc:
            print(f"roundtable doctor: {exc}", file=sys.stderr)
            sys.exit(2)
        sys.exit(doctor.run(place))
    if args.command in ("serve", "token"):
        try:
            settings = load_settings(args)
        except ConfigError as exc:
            print(f"roundtable {args.command}: {exc}", file=sys.stderr)
            sys.exit(2)
        if args.command == "serve":
            serve.configure_logging()
            sys.exit(serve.serve(settings, args.host, args.port))
        if args.token_command == "create":
            sys.exit(serve.token_create(settings, args.name, args.role))
        if args.token_command == "list":
            sys.exit(serve.token_list(settings, args.all))
        sys.exit(serve.token_revoke(settings, args.which))
    if args.command == "dashboard":
        from servers.dashboard import command as dashboard  # imports Starlette: only for this command

        try:
            settings = load_settings(args)
        except ConfigError as exc:
            print(f"roundtable dashboard: {exc}", file=sys.stderr)
            sys.exit(2)
        sys.exit(dashboard.run(settings, args.host, args.port, token=args.token, open_browser=args.open))
    if args.command == "copy":
        from servers.cli import transfer

        sys.exit(transfer.run(args.source, args.target, replace=args.replace))
    if args.command == "connect":
        from servers.cli import bridge  # imports the SDK's server and client: only for this command

        sys.exit(bridge.main(args.url, args.token or os.environ.get("ROUNDTABLE_TOKEN", "")))
    if args.command == "config":
        source = clientconfig.source_spec()
        if args.hooks:
            if args.client != "claude-code" or args.url:
                print(
                    "roundtable config: --hooks is for claude-code on a local database file"
                    " (the hooks read the file; drop --url, or use the channel alone with a served team)",
                    file=sys.stderr,
                )
                sys.exit(2)
            print(clientconfig.claude_code_hooks(source, args.db or clientconfig.PROJECT_DB))
            return
        if args.url and args.client == "claude-desktop":
            print(clientconfig.claude_desktop_remote(source, args.url))
        elif args.url:
            print(clientconfig.claude_code_remote(args.url))
        elif args.client == "claude-desktop":
            print(clientconfig.claude_desktop(source, args.db))
        else:
            print(clientconfig.claude_code(source, args.db or clientconfig.PROJECT_DB))
