"""`roundtable`: the people's command for a Roundtable team — install into a client, a demo, status, a live
tail, a doctor, configs to paste, the HTTP server and its tokens, the dashboard, the hook and the bridge."""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shared.config import ROLES, ConfigError, default_db_path, load_settings
from shared.db.place import SCHEMES

# The commands' modules are imported by main() when their command runs: `roundtable hook`, started by Claude
# Code on every prompt, must not pay for the demo's MCP client or serve's web server (servers/cli/hook.py).


def database_path(flag: str | None) -> Path:
    raw = flag or os.environ.get("ROUNDTABLE_DB")
    return (Path(raw).expanduser() if raw else default_db_path(os.environ)).absolute()


INSTALL_HELP = {
    "install": """Set Roundtable up in a client in one command:

1. install this Roundtable into its own environment (uv tool install; from a
   checkout with uv.lock's versions), so a client's launch needs no network
   and starts in about a second (Claude Code gives a server 30 s);
2. start each server once as the client will (this warms it), on a scratch
   database;
3. register the four servers with the client:

  claude-code     claude mcp add, in --scope local (default: just you, in this
                  folder), project (.mcp.json, shared: asks, or --approve, to
                  approve them for you) or user (all your projects); and the
                  hooks, in that scope's .claude settings file (--no-hooks
                  skips them). Database: ./.roundtable/roundtable.db of this
                  folder; user scope: the per-user default.
  claude-desktop  a merge into claude_desktop_config.json, backed up first;
                  other servers are kept. Database: the per-user default.
                  Quit and reopen Claude Desktop afterwards.

From a checkout, for a project elsewhere:
  uv run --no-dev roundtable install claude-code --project ~/code/my-app

Run it again to update. roundtable uninstall CLIENT undoes exactly what it
did.""",
    "uninstall": """Undo roundtable install: remove the servers (and the hooks and approvals)
it registered, put back entries it replaced, and remove its uv tool when no
other install uses it. Give the same client, --scope and project folder.""",
}


SERVE_PORT = 8765
"""roundtable serve's default port (servers/cli/serve.py DEFAULT_PORT is this)."""


def port_number(text: str) -> int:
    """A --port value: a TCP port, 0 to 65535 (refused by argparse in one line, not a bind() traceback)."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: give a number from 0 to 65535 (0 picks a free one)")
    return port


DESCRIPTION = """Roundtable: several AI agents work as one team through four MCP servers over one shared
database. This command is for people: set it up in a client, watch a demo, look at the team."""

EPILOG = """First steps: roundtable demo (watch three agents work, on a temporary file), then roundtable
install claude-code in your project folder (or claude-desktop), then roundtable doctor if a client does
not connect. roundtable COMMAND --help says more about each command."""


class _Unbroken:
    """Help text wrapped between words only: a command, flag, path or variable (`claude-desktop`,
    `ROUNDTABLE_DASHBOARD_TOKEN`) is never cut in two on a narrow terminal, so what the help says can be copied."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        text = " ".join(text.split())
        return textwrap.wrap(text, max(width, 11), break_long_words=False, break_on_hyphens=False)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n".join(indent + line for line in self._split_lines(text, width - len(indent)))


class Formatter(_Unbroken, argparse.HelpFormatter):
    pass


class RawFormatter(argparse.RawDescriptionHelpFormatter):
    """A description kept as written (its lists and examples); the flags' help wrapped as Formatter does."""

    _split_lines = _Unbroken._split_lines


class Parser(argparse.ArgumentParser):
    """argparse, with a mistake answered in one line that names the fix (a near choice or flag, and --help),
    instead of the usage block and a bare error."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        kw.setdefault("formatter_class", Formatter)
        super().__init__(*args, **kw)

    def error(self, message: str) -> Any:
        hint = ""
        if found := re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)$", message):
            choices = [c.strip().strip("'") for c in found.group(2).split(",")]  # quoted or not, by Python version
            near = difflib.get_close_matches(found.group(1), choices, n=1, cutoff=0.6)
            hint = f"did you mean {near[0]}? " if near else ""
        elif found := re.match(r"unrecognized arguments: (\S+)", message):
            flags = [o for a in self._actions for o in a.option_strings if o.startswith("--")]
            near = difflib.get_close_matches(found.group(1).split("=")[0], flags, n=1, cutoff=0.6)
            hint = f"did you mean {near[0]}? " if near else ""
        self.exit(2, f"{self.prog}: {message}; {hint}{self.prog} --help says how to use it\n")


def build_parser() -> argparse.ArgumentParser:
    from servers.cli.clients import SCOPES
    from shared import __version__

    p = Parser(prog="roundtable", description=DESCRIPTION, epilog=EPILOG)
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, description: str | None = None, **kw: Any) -> argparse.ArgumentParser:
        """A subcommand whose own --help begins with what it does (the summary, unless a longer text is given)."""
        fmt = RawFormatter if description else Formatter
        return sub.add_parser(name, help=summary, description=description or summary[:1].upper() + summary[1:] + ".",
                              formatter_class=fmt, **kw)  # fmt: skip

    def with_db(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument(
            "--db", help="the SQLite file or postgresql:// URL (env ROUNDTABLE_DB; default: per-user data dir)"
        )
        return sp

    play = command("demo", "watch three agents work as a team through real servers (about 20 s)")
    play.add_argument("--db", help="play on this SQLite file instead of a fresh temporary one (again and again)")
    play.add_argument("--keep", action="store_true", help="keep the temporary database and print its path")
    play.add_argument("--dashboard", action="store_true", help="watch the team live in your browser while it plays")
    for verb in ("install", "uninstall"):
        summary = "set Roundtable up in" if verb == "install" else "undo roundtable install in"
        ins = command(verb, f"{summary} Claude Code or Claude Desktop", INSTALL_HELP[verb])
        ins.add_argument("client", choices=["claude-code", "claude-desktop"])
        ins.add_argument("--scope", choices=SCOPES, help="claude-code: local (default), project or user")
        ins.add_argument("--project", help="claude-code: the project folder (default: the current folder)")
        if verb == "install":
            ins.add_argument("--db", help="the team's database file (default: see above)")
            ins.add_argument("--source", help="what to install: a checkout, a git URL or a name (default: this one)")
            ins.add_argument(
                "--approve",
                action=argparse.BooleanOptionalAction,
                help="--scope project: approve the servers for you in .claude/settings.local.json (else asked)",
            )
            ins.add_argument("--no-hooks", action="store_true", help="claude-code: register the servers only")
    st = with_db(command("status", "agents, tasks by state, open proposals, unread mail, health"))
    st.add_argument("--json", action="store_true", help="print the summary (or the error) as JSON")
    tl = with_db(command("tail", "follow the audit trail live (Ctrl-C to stop)"))
    tl.add_argument("-n", "--lines", type=int, default=10, metavar="N", help="show the last N events first (10)")
    tl.add_argument("--agent", help="only events by this agent")
    tl.add_argument("--kind", help="only this kind, or a prefix ending in '.', e.g. task.")
    tl.add_argument("--no-follow", action="store_true", help="print the last events and exit")
    with_db(
        command(
            "doctor",
            "check this machine and the servers the clients here are configured to run",
            DOCTOR_HELP,
        )
    )
    cfg = command("config", "print a client config to paste (roundtable install does it for you)")
    cfg.add_argument("client", choices=["claude-desktop", "claude-code"])
    cfg.add_argument(
        "--db", help="database path to put in the config (claude-code default: ./.roundtable/roundtable.db)"
    )
    cfg.add_argument(
        "--url", help="a roundtable serve base URL (e.g. https://team.example.com): connect to it with a token"
    )
    cfg.add_argument(
        "--hooks", action="store_true", help="claude-code: print the hooks block for .claude/settings.json"
    )
    dash = with_db(command("dashboard", "a live page of the team for people, in your browser (read-only)"))
    dash.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1; others need a token)")
    dash.add_argument("--port", type=port_number, default=8770, help="port (8770; 0 picks a free one)")
    dash.add_argument(
        "--token", help="the token other hosts must give (env ROUNDTABLE_DASHBOARD_TOKEN; prefer it: flags show in ps)"
    )
    dash.add_argument("--open", action="store_true", help="open the page in your web browser")
    srv = with_db(command("serve", "serve the team over streamable HTTP on one port (tokens required)"))
    srv.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1; others need a token)")
    srv.add_argument("--port", type=port_number, default=SERVE_PORT, help=f"port ({SERVE_PORT})")
    tok = command("token", "tokens for roundtable serve: create, list, revoke")
    tsub = tok.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    tc = with_db(tsub.add_parser("create", help="a token for agent NAME, printed once (only its hash is kept)"))
    tc.add_argument("name", help="the agent the token speaks for (an existing agent of that name, or a new one)")
    tc.add_argument("--role", choices=ROLES, default="worker", help="worker (default), observer or admin")
    tls = with_db(tsub.add_parser("list", help="the tokens issued (never the tokens themselves)"))
    tls.add_argument("--all", action="store_true", help="include revoked tokens")
    tr = with_db(tsub.add_parser("revoke", help="revoke a token by its id, or every token of an agent by name"))
    tr.add_argument("which", help="a token id (from token list) or an agent name")
    cp = command("copy", "copy a team's SQLite file into a PostgreSQL database, whole or not at all")
    cp.add_argument("--from", dest="source", required=True, metavar="FILE", help="the team's SQLite file")
    cp.add_argument("--to", dest="target", required=True, metavar="URL", help="postgresql://user@host/database")
    cp.add_argument("--replace", action="store_true", help="delete what the target holds first (else refused)")
    con = command(
        "connect",
        "a stdio MCP server, started by a client, forwarding to a roundtable serve endpoint",
        CONNECT_HELP,
    )
    con.add_argument("url", help="the endpoint, e.g. https://team.example.com/coordination/mcp")
    con.add_argument("--token", help="the bearer token (env ROUNDTABLE_TOKEN; prefer it: flags show in ps)")
    sub.add_parser(
        "hook",
        help="answer a Claude Code hook: SessionStart, UserPromptSubmit or Stop (roundtable hook --help)",
        add_help=False,
    )
    return p


DOCTOR_HELP = """Check this machine and what the clients here would see. It starts every
Roundtable server that Claude Desktop's config and Claude Code (user, local
and project scope of this folder) are set to run, with the command and the
environment that client uses, and reports for each: answers in N s against
the client's 30 s limit (MCP_TIMEOUT), or why not (a missing command, not on
Desktop's PATH, a certificate error, Pending approval), with a fix per line.
The servers run on a temporary copy of the team's file: the team gains no
agent, session or event. Exit status 1 when something needs fixing."""

CONNECT_HELP = """A stdio MCP server forwarding everything to one server of a roundtable serve
endpoint over streamable HTTP. An MCP client starts it (Claude Desktop takes
only stdio servers): roundtable config claude-desktop --url URL prints the
entries. It ends when its client closes stdin."""


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
        return dashboard.alongside(settings, lambda: demo.run(db, keep, default_db=database_path(None), made=folder))
    finally:
        if folder is not None and not keep:
            shutil.rmtree(folder, ignore_errors=True)


def _command_here() -> str:
    """How a person runs `roundtable` from here: in a checkout not installed yet it is only `uv run`'s (the
    README's first command), not on the PATH."""
    import shlex

    from servers.cli import clientconfig

    checkout = clientconfig.CHECKOUT
    if installed_bin() is not None or clientconfig.source_spec() != str(checkout):
        return "roundtable"
    if Path.cwd().resolve() == checkout:
        return "uv run --no-dev roundtable"
    return f"uv run --no-dev --project {shlex.quote(str(checkout))} roundtable"  # run from another folder


def quiet_on_closed_pipe() -> None:
    """`roundtable status | head -1`: end quietly when the reader goes away, as Unix tools do, instead of a
    BrokenPipeError traceback. Only for commands that start no child processes (a server's closed pipe must
    stay an error the command handles)."""
    import signal

    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)


def main(argv: Sequence[str] | None = None) -> None:
    given = list(sys.argv[1:] if argv is None else argv)
    if given[:1] == ["hook"]:  # the fast path: only the hook's own (lean) imports
        from servers.cli import hook

        sys.exit(hook.main(given[1:]))
    parser = build_parser()
    if given and given[0].startswith("-") and given[0].split("=")[0] not in ("-h", "--help", "--version"):
        parser.error(_before_the_command(parser, given))
    args, extra = parser.parse_known_args(given)
    if extra:  # said by the command they were given to, with its flags (argparse would say it as `roundtable`'s)
        _subparser(parser, args).error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        run(args)
    except KeyboardInterrupt:  # Ctrl-C in a command without its own answer to it: one line, not a traceback
        print(f"\nroundtable {args.command}: interrupted", file=sys.stderr)
        sys.exit(130)


def _before_the_command(parser: argparse.ArgumentParser, given: list[str]) -> str:
    """What to say of a flag given before any command: `roundtable --db x status` (a command's flag, which goes
    after it), or a mistyped `--versoin`."""
    flag = given[0].split("=")[0]
    command = next((a for a in given[1:] if a in _commands(parser)), "COMMAND")
    if flag.startswith("--") and any(flag in a.option_strings for p in _commands(parser).values() for a in p._actions):
        return f"{flag} goes after the command: roundtable {command} {' '.join(a for a in given if a != command)}"
    return f"unrecognized arguments: {given[0]}"  # Parser.error adds the nearest of --help, --version


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices) if actions else {}


def _subparser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the (sub)command `args` ran, e.g. `roundtable token create`'s."""
    for name in ("command", "token_command"):
        chosen = getattr(args, name, None)
        actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if chosen is None or not actions:
            break
        parser = actions[0].choices[chosen]
    return parser


def run(args: argparse.Namespace) -> None:
    """The command `args` names (each ends with sys.exit and its exit status)."""
    if args.command == "demo":
        from servers.cli import demo

        if args.db and args.db.strip().lower().startswith(SCHEMES):
            print(
                "roundtable demo plays on a SQLite file only (a fresh one, or --db FILE), never on a team's server;"
                " watch a PostgreSQL team with roundtable status, tail or dashboard --db URL",
                file=sys.stderr,
            )
            sys.exit(2)
        db = Path(args.db).expanduser().absolute() if args.db else None
        if db is not None and (problem := demo.refusal(db)):
            print(f"roundtable demo: {problem}", file=sys.stderr)
            sys.exit(2)
        if args.dashboard:
            sys.exit(_demo_with_dashboard(db, args.keep))
        code = demo.run(db, args.keep, default_db=database_path(None))
        if code == 0:
            here = _command_here()
            print(f"tip: {here} demo --dashboard plays it while a page in your browser shows the team live")
            print(f"next: {here} install claude-code --project <your project folder> sets it up in Claude Code")
        sys.exit(code)
    if args.command in ("status", "tail", "config", "token"):
        quiet_on_closed_pipe()
    if args.command in ("status", "tail"):
        from servers.cli import team
        from shared.store.events import EventFilter

        try:
            settings = load_settings(args)
        except ConfigError as exc:
            if args.command == "status":
                team.refuse(str(exc), as_json=args.json)
            else:
                print(f"roundtable {args.command}: {exc}", file=sys.stderr)
            sys.exit(2)
        if args.command == "status":
            sys.exit(team.status(settings, as_json=args.json))
        wanted = EventFilter(agent=args.agent, kind=args.kind)
        sys.exit(team.tail(settings, wanted, backlog=max(args.lines, 0), keep_following=not args.no_follow))
    if args.command == "doctor":
        from servers.cli import doctor

        try:
            place = load_settings(args).db
        except ConfigError as exc:
            print(f"roundtable doctor: {exc}", file=sys.stderr)
            sys.exit(2)
        sys.exit(doctor.run(place, given=bool(args.db or os.environ.get("ROUNDTABLE_DB"))))
    if args.command in ("serve", "token"):
        from servers.cli import serve

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
    if args.command in ("install", "uninstall"):
        from servers.cli import install

        sys.exit(install.install(args) if args.command == "install" else install.uninstall(args))
    if args.command == "config":
        sys.exit(print_config(args))


def installed_bin() -> Path | None:
    """The persistent install's bin folder (`roundtable install`), when there is one."""
    from servers.cli import toolenv

    try:
        env = toolenv.location()
    except (toolenv.ToolFailed, OSError):
        return None
    return env.bin if env.exists() else None


def print_config(args: argparse.Namespace) -> int:
    """`roundtable config CLIENT`: the blocks to paste, running the persistent install when there is one."""
    from servers.cli import clientconfig

    source, installed = clientconfig.source_spec(), installed_bin()
    if args.hooks:
        if args.client != "claude-code" or args.url:
            print(
                "roundtable config: --hooks is for claude-code on a local database file"
                " (the hooks read the file; drop --url, or use the channel alone with a served team)",
                file=sys.stderr,
            )
            return 2
        program = clientconfig.hook_program(source, installed, shared=True)  # for the shared settings.json
        print(clientconfig.claude_code_hooks(program, args.db or clientconfig.PROJECT_DB))
        return 0
    if args.url and args.client == "claude-desktop":
        print(clientconfig.claude_desktop_remote(source, args.url, installed))
    elif args.url:
        print(clientconfig.claude_code_remote(args.url))
    elif args.client == "claude-desktop":
        db = str(Path(args.db).expanduser().absolute()) if args.db else str(default_db_path(os.environ))
        print(clientconfig.claude_desktop(source, db, installed))
        if installed is None:
            print(f"note: {clientconfig.UVX_NOTE.format(client='claude-desktop')}", file=sys.stderr)
    else:
        print(clientconfig.claude_code(source, args.db or clientconfig.PROJECT_DB, installed))
    return 0
