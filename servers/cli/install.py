"""`roundtable install` and `roundtable uninstall`: set Roundtable up in a client in one command, and undo it.

install: a persistent install (servers/cli/toolenv.py), each server warmed and checked as the client will
start it (servers/cli/probe.py, on a scratch database), then registered with the real client — `claude mcp
add` for Claude Code (plus its hooks, and the approval of project-scope servers when asked), a safe merge into
claude_desktop_config.json for Claude Desktop (backed up first; other servers are never touched). What it did
is written down in installs.json beside the default database, and uninstall undoes exactly that: it removes
what install added, puts back entries it replaced, and removes the uv tool when no other install uses it and
install put it there.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from servers import SERVER_KINDS
from servers.cli import clientconfig, clients, jsonfile, probe, toolenv
from servers.cli.render import mark, paint
from shared.config import default_db_path
from shared.db.place import SCHEMES, PostgresUrl


class Refused(Exception):
    """Bad input or a state install cannot work with: one line naming the fix."""


def say(text: str = "") -> None:
    print(text, flush=True)


def moved_team(previous: dict[str, Any], db: str) -> None:
    """Installing again on another database moves the client to another team: say so, and how to stay."""
    before = previous.get("db")
    if before and before != db:
        keep = f"--db {shlex.quote(shown_db(str(before)))} keeps it"
        say(paint(f"! the team's file changed from {shown_db(str(before))} to {shown_db(db)}; {keep}", "yellow"))


def replacing(name: str, where: str, entry: dict[str, Any], db: str) -> None:
    """Say that an entry of one of our names, set up otherwise, is replaced: what it ran, and the team it was on."""
    found = entry.get("env")
    env: dict[str, Any] = found if isinstance(found, dict) else {}
    runs = " ".join(str(part) for part in [entry.get("command", "?"), *(entry.get("args") or [])])
    settings = "".join(f", {k}={v}" for k, v in sorted(env.items()) if k.startswith("ROUNDTABLE_"))
    line = f"! {name} was already in {where} (it ran {runs}{settings}): replaced; uninstall puts it back"
    old_db = env.get("ROUNDTABLE_DB")
    if old_db and old_db != db:
        line += f"; to keep its team's file, run this again with --db {shlex.quote(str(old_db))}"
    say(paint(line, "yellow"))


# What install did, so uninstall can undo exactly that.


def record_file() -> Path:
    return default_db_path(os.environ).parent / "installs.json"


def load_records() -> list[dict[str, Any]]:
    try:
        data = jsonfile.load(record_file())
    except jsonfile.Unreadable:
        return []
    return _records_in(data)


def load_records_strictly() -> list[dict[str, Any]]:
    """The records, or the one line saying why the file cannot be read (install checks this before it starts:
    an install it could not write down could not be undone)."""
    return _records_in(jsonfile.load(record_file()))


def _records_in(data: dict[str, Any]) -> list[dict[str, Any]]:
    found = data.get("installs")
    return [r for r in found if isinstance(r, dict)] if isinstance(found, list) else []


def save_records(records: list[dict[str, Any]]) -> None:
    """Write the records beside the default database, creating its folder user-only (0700) as the servers do:
    install is often the first to make it, and the team's file will live there."""
    if records or record_file().exists():
        record_file().parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        jsonfile.save(record_file(), {"installs": records})


def key(client: str, scope: str | None, project: Path | None) -> dict[str, Any]:
    where = str(project) if client == "claude-code" and scope in ("local", "project") else None
    return {"client": client, "scope": scope, "project": where}


def matches(record: dict[str, Any], wanted: dict[str, Any]) -> bool:
    return all(record.get(k) == v for k, v in wanted.items())


# Checking the input.


def project_folder(args: argparse.Namespace) -> Path:
    """The Claude Code project: --project, else the folder the command runs in."""
    if args.project is None:
        return Path.cwd()
    folder = Path(args.project).expanduser().absolute()
    if not folder.is_dir():
        raise Refused(f"--project {args.project} is not a folder: give your project's folder")
    return folder


def resolve_db(raw: str | None, client: str, scope: str | None, project: Path) -> str:
    """The database the servers get: absolute, except a project-scope path inside the project, which stays
    relative (.mcp.json is shared: Claude Code starts the servers in the project folder)."""
    if raw is None:
        if client == "claude-code" and scope == "project":
            return clientconfig.PROJECT_DB
        if client == "claude-code" and scope == "local":
            return str(project / ".roundtable" / "roundtable.db")
        return str(default_db_path(os.environ))
    if is_url(raw):  # a PostgreSQL team: the servers get the URL as it is, never a file path made of it
        try:
            return PostgresUrl(raw.strip()).url
        except ValueError as exc:
            raise Refused(f"--db {exc}") from None
    path = Path(raw).expanduser()
    if path.exists() and path.is_dir():
        raise Refused(f"--db {raw} is a folder: give the database file's path, e.g. {path / 'roundtable.db'}")
    if client == "claude-code" and scope == "project" and not path.is_absolute():
        return raw
    return str(path.absolute())


def is_url(db: str) -> bool:
    """Whether the team's database is a PostgreSQL URL rather than a file."""
    return db.strip().lower().startswith(SCHEMES)


def shown_db(db: str) -> str:
    """The team's database as install prints it: a URL without its password."""
    return PostgresUrl(db).shown if is_url(db) else db


def resolve_source(raw: str | None) -> str:
    if raw is None:
        return clientconfig.source_spec()
    looks_local = raw.startswith((".", "/", "~")) or os.sep in raw
    if looks_local and "://" not in raw and "+" not in raw.split(os.sep)[0]:
        path = Path(raw).expanduser().absolute()
        if not (path / "pyproject.toml").is_file():
            raise Refused(f"--source {raw}: no pyproject.toml there; give a Roundtable checkout, a git URL or a name")
        return str(path)
    return raw


# Warming: each installed server started as the client will start it, on a scratch database.


async def _warm(env: toolenv.ToolEnv, client: str) -> list[tuple[str, probe.Probe]]:
    results: dict[str, probe.Probe] = {}
    with tempfile.TemporaryDirectory(prefix="roundtable-warm-") as folder:

        async def one(kind: str) -> None:
            scratch = str(Path(folder) / f"{kind}.db")
            command = str(env.script(f"roundtable-{kind}"))
            results[kind] = await probe.probe(command, [], probe.client_environment(client, {"ROUNDTABLE_DB": scratch}))

        async with anyio.create_task_group() as tg:
            for kind in SERVER_KINDS:
                tg.start_soon(one, kind)
    return [(kind, results[kind]) for kind in SERVER_KINDS]


def install_and_warm(source: str, client: str) -> tuple[toolenv.ToolEnv, bool]:
    """The persistent install, every server checked; (where it is, whether it was there before)."""
    where = toolenv.location()
    # There before: installed by someone else, not by an earlier `roundtable install` still recorded.
    before = where.exists() and all(
        r.get("tool_was_there") for r in load_records() if r.get("tool") == str(where.folder)
    )
    say(f"installing Roundtable from {source} into its own environment (uv tool install) …")
    began = time.perf_counter()
    env = toolenv.install(source)
    say(f"{mark(True)} installed in {env.folder} ({time.perf_counter() - began:.1f} s)")
    links = toolenv.links()
    if links is not None and not toolenv.on_path(links):  # README's `roundtable status` would be "not found"
        say(paint(f"! the roundtable command is in {links}, which is not on your PATH:", "yellow"))
        say(f"  run `uv tool update-shell` and open a new terminal (or call it as {links / 'roundtable'})")
    failed = False
    for kind, result in anyio.run(_warm, env, client):
        if result.ok:
            say(f"{mark(True)} roundtable-{kind} answers in {result.seconds:.1f} s ({result.tools} tools)")
        else:
            failed = True
            say(f"{mark(False)} roundtable-{kind}: {result.problem}")
            say(paint(f"  fix: {result.fix}", "red"))
    if failed:
        raise Refused("a server did not start as the client would start it (above); nothing was registered")
    return env, before


# Claude Code.


def server_command(env: toolenv.ToolEnv, kind: str, *, shared: bool = False) -> str:
    """The installed server's script; `shared` (project scope, .mcp.json): named from the home folder."""
    script = env.script(f"roundtable-{kind}")
    return clientconfig.from_home(script) if shared else str(script)


def _hook_groups(program: str, db: str) -> dict[str, dict[str, Any]]:
    blocks = json.loads(clientconfig.claude_code_hooks(program, db))["hooks"]
    return {event: groups[0] for event, groups in blocks.items()}


HOOK_EVENTS = ("SessionStart", "UserPromptSubmit", "Stop")


def hooks_of(data: dict[str, Any], path: Path) -> dict[str, list[Any]]:
    """The settings' "hooks", with a list for each of our events; refused when they are something else."""
    hooks = data.setdefault("hooks", {})
    if not isinstance(hooks, dict):
        raise Refused(f'{path}: "hooks" is not an object; fix it or run with --no-hooks')
    for event in HOOK_EVENTS:
        if not isinstance(hooks.setdefault(event, []), list):
            raise Refused(f'{path}: "hooks.{event}" is not a list; fix it or run with --no-hooks')
    return hooks


def add_hooks(path: Path, groups: dict[str, dict[str, Any]]) -> list[str]:
    """Merge one hook group per event into the settings file; the commands added (none already there twice)."""
    data = jsonfile.load(path)
    hooks = hooks_of(data, path)
    added = []
    for event, group in groups.items():
        present = hooks[event]
        command = group["hooks"][0]["command"]
        if not any(isinstance(g, dict) and command in _group_commands(g) for g in present):
            present.append(group)
            added.append(command)
    jsonfile.save(path, data)
    return added


def remove_hooks(path: Path, commands: list[str]) -> None:
    data = jsonfile.load(path)
    hooks = data.get("hooks")
    if not isinstance(hooks, dict):
        return
    for event in list(hooks):
        groups = hooks[event]
        if not isinstance(groups, list):
            continue
        kept = [g for g in groups if not (isinstance(g, dict) and _group_commands(g) & set(commands))]
        if kept:
            hooks[event] = kept
        else:
            del hooks[event]
    if not hooks:
        del data["hooks"]
    _save_or_remove(path, data)


def _group_commands(group: dict[str, Any]) -> set[str]:
    return {h.get("command", "") for h in group.get("hooks") or [] if isinstance(h, dict)}


def _save_or_remove(path: Path, data: dict[str, Any]) -> None:
    """Save, or remove the file when nothing is left in it (uninstall leaves no empty file of its own)."""
    if data:
        jsonfile.save(path, data)
        return
    path.unlink(missing_ok=True)
    if path.parent.name == ".claude" and not any(path.parent.iterdir()):
        path.parent.rmdir()  # the .claude folder install made for it


def approvals_of(data: dict[str, Any], path: Path) -> list[Any]:
    enabled = data.setdefault("enabledMcpjsonServers", [])
    if not isinstance(enabled, list):
        raise Refused(f'{path}: "enabledMcpjsonServers" is not a list; fix it, or approve in an interactive `claude`')
    return enabled


def approve(project: Path, names: list[str]) -> list[str]:
    """Add `names` to enabledMcpjsonServers in the project's .claude/settings.local.json; the ones added."""
    path = clients.approvals_file(project)
    data = jsonfile.load(path)
    enabled = approvals_of(data, path)
    added = [n for n in names if n not in enabled]
    enabled.extend(added)
    jsonfile.save(path, data)
    return added


def unapprove(project: Path, names: list[str]) -> None:
    path = clients.approvals_file(project)
    data = jsonfile.load(path)
    enabled = data.get("enabledMcpjsonServers")
    if isinstance(enabled, list):
        enabled[:] = [n for n in enabled if n not in names]
        if not enabled:
            del data["enabledMcpjsonServers"]
        _save_or_remove(path, data)


def check_files(*, hooks: Path | None = None, approvals: Path | None = None, config: Path | None = None) -> None:
    """Before anything is installed or registered: every file install will write must be readable as what it
    is and writable, so a bad one stops install with its one line and nothing half done."""
    if hooks is not None:
        hooks_of(jsonfile.load(hooks), hooks)
    if approvals is not None:
        approvals_of(jsonfile.load(approvals), approvals)
    for path in (hooks, approvals, config, record_file()):
        if path is not None:
            jsonfile.writable(path)
    load_records_strictly()


def want_approval(flag: bool | None) -> bool:
    if flag is not None:
        return flag
    if not sys.stdin.isatty():
        return False
    try:
        answer = input("Approve the four project servers for you now (.claude/settings.local.json)? [Y/n] ")
    except EOFError:  # Ctrl-D: no answer is no approval
        say()
        return False
    return answer.strip().lower() in ("", "y", "yes")


def _claude_ok(*args: str, project: Path) -> None:
    done = clients.claude(*args, cwd=project)
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
        raise Refused(f"`claude {' '.join(args[:4])} …` failed: {last[-1]}")


def register_claude_code(
    scope: str, project: Path, db: str, env: toolenv.ToolEnv, record: dict[str, Any], earlier: dict[str, Any] | None
) -> None:
    """`claude mcp add` of each server in `scope` (an entry of that name there is replaced, and kept to put
    back on uninstall), written into `record` as it is done: stopped half way, uninstall undoes that half.
    Installing again (`earlier`: the record of the install before), what the first install replaced stays
    what uninstall puts back."""
    previous = clients.claude_code_servers(scope, project)
    replaced = {name: previous[name] for name in clients.NAMES if name in previous}
    record["replaced"] = replaced if earlier is None else earlier.get("replaced", {})
    record["servers"] = {}
    if earlier is None:
        for name, entry in replaced.items():
            replacing(name, f"{scope} scope", entry, db)
    for kind in SERVER_KINDS:
        name = f"roundtable-{kind}"
        if name in replaced:
            _claude_ok("mcp", "remove", "-s", scope, name, project=project)
        command = server_command(env, kind, shared=scope == "project")
        _claude_ok("mcp", "add", "-s", scope, name, "-e", f"ROUNDTABLE_DB={db}", "--", command, project=project)
        record["servers"][name] = command


def install_claude_code(args: argparse.Namespace) -> int:
    scope = args.scope or "local"
    project = project_folder(args)
    if args.approve is not None and scope != "project":
        raise Refused(f"--approve is for --scope project (servers in {scope} scope need no approval); drop it")
    if clients.claude_command() is None:
        raise Refused(
            "the Claude Code CLI (`claude`) is not on PATH: install it (npm install -g @anthropic-ai/claude-code) or "
            "set ROUNDTABLE_CLAUDE to it; or paste what `roundtable config claude-code` prints"
        )
    db = resolve_db(args.db, "claude-code", scope, project)
    source = resolve_source(args.source)
    check_files(hooks=None if args.no_hooks else clients.settings_file(scope, project))
    clients.claude_code_servers(scope, project)  # ~/.claude.json or .mcp.json, read before anything is done
    approving = scope == "project" and want_approval(args.approve)  # asked now, not after the install's wait
    if approving:
        check_files(approvals=clients.approvals_file(project))
    wanted = key("claude-code", scope, project)
    records = [r for r in load_records() if not matches(r, wanted)]
    previous = next((r for r in load_records() if matches(r, wanted)), None)
    env, before = install_and_warm(source, "claude-code")
    record: dict[str, Any] = {**wanted, "db": db, "tool": str(env.folder), "tool_was_there": before}
    if previous is not None:  # installing again: what the first install found stays what uninstall restores
        record["tool_was_there"] = previous.get("tool_was_there", before)
        # and what it added stays recorded until this install has redone it (stopped half way: still undoable)
        record |= {k: previous[k] for k in ("hooks_file", "hooks", "approved") if k in previous}
    undo = f"roundtable uninstall claude-code{'' if scope == 'local' else f' --scope {scope}'}"
    undo += f" --project {shlex.quote(str(project))}" if project != Path.cwd() else ""
    try:
        _register_all(args, scope, project, db, source, env, record, previous, approving)
    except BaseException as exc:  # stopped half way (a failed `claude` call, Ctrl-C): what was done is undoable
        save_records([*records, record])
        if isinstance(exc, Refused):
            raise Refused(f"{exc}; `{undo}` takes back what was done") from exc
        raise
    records.append(record)
    save_records(records)
    if unignored := _tracked_by_git(project, db):
        say(paint(f"! git would commit the team's file: add {unignored}/ to {project / '.gitignore'}", "yellow"))
    say()
    say('Next: `claude mcp list` shows them connected; in Claude Code, ask: "call start_here on roundtable".')
    say(f"Mail pushed into the session as it arrives (channels, research preview): {clientconfig.CHANNEL_LAUNCH}")
    team_file = shown_db(db) if is_url(db) or Path(db).is_absolute() else str((project / db).resolve())
    say(f"Watch the team: roundtable status --db {shlex.quote(team_file)} (or dashboard --db … --open)")
    say(f"Undo: {undo}")
    if previous is not None:
        say(paint("(installed again: the earlier install's entries were replaced)", "dim"))
        moved_team(previous, db)
    return 0


def _tracked_by_git(project: Path, db: str) -> str | None:
    """The folder of the team's file, relative to the project, when it is in the project's git work tree and
    not ignored (so `git add .` would commit it); None otherwise, or without git."""
    if is_url(db):
        return None
    path = Path(db) if Path(db).is_absolute() else project / db
    try:
        inside = path.resolve().parent.relative_to(project.resolve())
    except ValueError:
        return None
    if not clients.in_git_work_tree(project) or str(inside) == ".":
        return None
    try:
        done = subprocess.run(
            ["git", "check-ignore", "-q", str(path)], cwd=project, capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return inside.as_posix() if done.returncode == 1 else None


def _register_all(
    args: argparse.Namespace,
    scope: str,
    project: Path,
    db: str,
    source: str,
    env: toolenv.ToolEnv,
    record: dict[str, Any],
    previous: dict[str, Any] | None,
    approving: bool,
) -> None:
    """The servers, the hooks and the approvals, each written into `record` once done."""
    register_claude_code(scope, project, db, env, record, previous)
    say(f"{mark(True)} registered {', '.join(clients.NAMES)} with Claude Code ({scope} scope), database {shown_db(db)}")
    if not args.no_hooks:
        path = clients.settings_file(scope, project)
        program = clientconfig.hook_program(source, env.bin, shared=scope == "project")
        groups = _hook_groups(program, db)
        wanted_hooks = {g["hooks"][0]["command"] for g in groups.values()}
        earlier = set((previous or {}).get("hooks", []))
        stale = earlier - wanted_hooks  # an earlier install's, now written otherwise
        if stale and (previous or {}).get("hooks_file") == str(path):
            remove_hooks(path, sorted(stale))
        added = add_hooks(path, groups)
        record["hooks_file"] = str(path)
        record["hooks"] = sorted(set(added) | (earlier & wanted_hooks))
        say(f"{mark(True)} hooks SessionStart, UserPromptSubmit, Stop in {path}")
    elif previous is not None and previous.get("hooks"):  # an earlier install's hooks stay, and stay undoable
        record["hooks_file"], record["hooks"] = previous["hooks_file"], previous["hooks"]
    if scope == "project":
        approved_now = approve(project, list(clients.NAMES)) if approving else []
        record["approved"] = sorted(set(approved_now) | set((previous or {}).get("approved", [])))
        if approved_now or all(clients.approved(project, n) for n in clients.NAMES):
            say(f"{mark(True)} approved for you in {clients.approvals_file(project)} (enabledMcpjsonServers)")
            if not clients.in_git_work_tree(project):
                say("  this folder is no git work tree: the first `claude` here asks once to trust it; accept")
        else:
            say(paint('! project servers show as "Pending approval" in `claude mcp list` until approved:', "yellow"))
            say("  run `claude` here and approve them, or run this again with --approve")


def uninstall_claude_code(record: dict[str, Any]) -> None:
    scope, project = record["scope"], Path(record.get("project") or Path.cwd())
    present = clients.claude_code_servers(scope, project) if clients.claude_command() else {}
    if clients.claude_command() is None:
        raise Refused("the Claude Code CLI (`claude`) is not on PATH: uninstall needs it (or set ROUNDTABLE_CLAUDE)")
    ours, theirs = record.get("servers") or {}, record.get("replaced") or {}
    for name in [n for n in clients.NAMES if n in ours or n in theirs]:
        entry, replaced = present.get(name), theirs.get(name)
        if entry is not None and name in ours and entry.get("command") == ours[name]:
            _claude_ok("mcp", "remove", "-s", scope, name, project=project)
            entry = None
        elif entry is not None:  # not install's: changed since, or (an install stopped half way) still theirs
            if replaced is None or entry.get("command") != replaced.get("command"):
                runs = entry.get("command")
                say(f"! {name} in {scope} scope was changed since install (it runs {runs}); left as it is")
            continue
        if replaced is not None:
            _claude_ok("mcp", "add-json", "-s", scope, name, json.dumps(replaced), project=project)
    say(f"{mark(True)} removed {', '.join(record.get('servers') or {})} from Claude Code ({scope} scope)")
    if record.get("hooks"):
        remove_hooks(Path(record["hooks_file"]), record["hooks"])
        say(f"{mark(True)} removed the hooks from {record['hooks_file']}")
    if record.get("approved"):
        unapprove(project, record["approved"])
        say(f"{mark(True)} removed the approvals from {clients.approvals_file(project)}")


# Claude Desktop.


def install_claude_desktop(args: argparse.Namespace) -> int:
    if args.scope is not None:
        raise Refused("--scope is for claude-code; Claude Desktop has one config per user: drop --scope")
    if args.approve is not None or args.no_hooks:
        raise Refused("--approve and --no-hooks are for claude-code; drop them")
    if args.project is not None:
        raise Refused("--project is for claude-code; Claude Desktop has no project: drop --project")
    project = Path.cwd()
    config = clients.desktop_config()
    data = jsonfile.load(config)  # refuses an unreadable file before anything is installed
    servers = data.get("mcpServers", {})
    if not isinstance(servers, dict):
        raise Refused(f'{config}: "mcpServers" is not an object; fix it or move the file away')
    db = resolve_db(args.db, "claude-desktop", None, project)
    source = resolve_source(args.source)
    check_files(config=config)
    app_seen = config.parent.is_dir()  # Claude Desktop makes its folder on its first start
    wanted = key("claude-desktop", None, None)
    previous = next((r for r in load_records() if matches(r, wanted)), None)
    env, before = install_and_warm(source, "claude-desktop")
    data = jsonfile.load(config)
    servers = data.setdefault("mcpServers", {})
    copy = jsonfile.backup(config)
    entries = {
        f"roundtable-{kind}": {"command": server_command(env, kind), "args": [], "env": {"ROUNDTABLE_DB": db}}
        for kind in SERVER_KINDS
    }
    replaced = {name: servers[name] for name in entries if name in servers and servers[name] != entries[name]}
    if previous is None:
        for name, entry in replaced.items():
            replacing(name, str(config), entry if isinstance(entry, dict) else {}, db)
    servers.update(entries)
    jsonfile.save(config, data)
    record: dict[str, Any] = {
        **wanted,
        "db": db,
        "tool": str(env.folder),
        "tool_was_there": before if previous is None else previous.get("tool_was_there", before),
        "config": str(config),
        "created": copy is None if previous is None else previous.get("created", False),
        "backup": str(copy) if copy else None,
        "servers": entries,
        "replaced": replaced if previous is None else previous.get("replaced", {}),
    }
    save_records([r for r in load_records() if not matches(r, wanted)] + [record])
    say(f"{mark(True)} added {', '.join(entries)} to {config}" + (f" (backup: {copy})" if copy else ""))
    if previous is not None:
        moved_team(previous, db)
    say(f"  database {shown_db(db)}" + ("; other servers in the file were left as they are" if copy else ""))
    if not app_seen:
        say(paint(f"! Claude Desktop has not run here yet (no {config.parent}): the config waits for it", "yellow"))
        say("  install it from https://claude.ai/download and start it; it reads the four servers at its start")
    say()
    say('Next: quit and reopen Claude Desktop; ask it: "call start_here on roundtable".')
    say("Undo: roundtable uninstall claude-desktop")
    return 0


def uninstall_claude_desktop(record: dict[str, Any]) -> None:
    config = Path(record["config"])
    if not config.exists():
        say(f"{mark(True)} {config} is gone already: nothing to take out of it")
        return
    data = jsonfile.load(config)
    jsonfile.writable(config)
    servers = data.get("mcpServers")
    if isinstance(servers, dict):
        if copy := jsonfile.backup(config):
            say(f"  backup of {config.name} as it was: {copy}")
        for name, entry in (record.get("servers") or {}).items():
            if name not in servers:
                continue
            if servers[name] != entry:
                say(f"! {name} in {config} was changed since install; left as it is")
                continue
            del servers[name]
            if name in (record.get("replaced") or {}):
                servers[name] = record["replaced"][name]
        if not servers and record.get("created"):
            del data["mcpServers"]
    if record.get("created") and not data:
        config.unlink(missing_ok=True)
        say(f"{mark(True)} removed {config} (install had created it)")
    else:
        jsonfile.save(config, data)
        say(f"{mark(True)} removed Roundtable's servers from {config}; the others are as they were")
    say("  quit and reopen Claude Desktop to unload them")


# The commands.


def install(args: argparse.Namespace) -> int:
    try:
        if args.client == "claude-code":
            return install_claude_code(args)
        return install_claude_desktop(args)
    except (Refused, toolenv.ToolFailed, jsonfile.Unreadable) as exc:
        print(f"roundtable install: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            f"\nroundtable install: interrupted; run it again to finish, or `roundtable uninstall {args.client}`"
            " (with the same --scope and --project) to take back what was done",
            file=sys.stderr,
        )
        return 130


def uninstall(args: argparse.Namespace) -> int:
    scope = args.scope or ("local" if args.client == "claude-code" else None)
    if args.client == "claude-desktop" and (args.scope is not None or args.project is not None):
        flag = "--scope" if args.scope is not None else "--project"
        print(f"roundtable uninstall: {flag} is for claude-code; Claude Desktop has one config: drop {flag}",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        project = project_folder(args)
    except Refused as exc:
        print(f"roundtable uninstall: {exc}", file=sys.stderr)
        return 2
    wanted = key(args.client, scope, project)
    try:
        records = load_records_strictly()  # a damaged record is said as such, not as "was not installed"
    except jsonfile.Unreadable as exc:
        print(f"roundtable uninstall: {exc}", file=sys.stderr)
        return 1
    record = next((r for r in records if matches(r, wanted)), None)
    if record is None:
        where = f" ({scope} scope, {project})" if args.client == "claude-code" else ""
        print(
            f"roundtable uninstall: Roundtable was not installed in {args.client}{where} by `roundtable install`"
            f" (nothing recorded in {record_file()}); remove entries you added by hand in the client",
            file=sys.stderr,
        )
        return 1
    try:
        if args.client == "claude-code":
            uninstall_claude_code(record)
        else:
            uninstall_claude_desktop(record)
        rest = [r for r in records if r is not record]
        save_records(rest)
        if not record.get("tool_was_there") and not any(r.get("tool") == record.get("tool") for r in rest):
            toolenv.uninstall()
            say(f"{mark(True)} removed the uv tool {clientconfig.DISTRIBUTION} (install had put it there)")
        if not rest:
            record_file().unlink(missing_ok=True)
    except (Refused, toolenv.ToolFailed, jsonfile.Unreadable) as exc:
        print(f"roundtable uninstall: {exc}", file=sys.stderr)
        return 1
    return 0
