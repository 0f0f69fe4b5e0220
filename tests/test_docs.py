"""The documentation matches the code: docs/TOOLS.md lists every tool with exactly its arguments,
docs/SETTINGS.md every setting, docs/HEALTH.md every health reason code, docs/CLI.md every command, and
every relative link in the README and docs/ resolves (file and heading)."""

from __future__ import annotations

import argparse
import importlib
import json
import re
import unicodedata
from pathlib import Path

import pytest
from mcp import Client

from servers import SERVER_KINDS
from servers.cli import build_parser
from shared.config import Settings
from shared.rules import toolsets

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
SETTING = re.compile(r"ROUNDTABLE_[A-Z_]*[A-Z]")
# Read by the test suite and benchmarks only (a picture to retake, an opt-in download, where PostgreSQL is), never
# by the product.
TEST_ONLY = {"ROUNDTABLE_SCREENSHOT", "ROUNDTABLE_INSPECTOR", "ROUNDTABLE_PG_BIN"}


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _prose(markdown: str) -> str:
    """The text outside fenced code blocks (a `#` line in a shell block is no heading)."""
    return re.sub(r"^```.*?^```", "", markdown, flags=re.M | re.S)


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but `-` and `_` dropped, spaces to hyphens."""
    heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    kept = "".join(c for c in heading if c in " -_" or unicodedata.category(c)[0] in "LN")
    return kept.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for line in _prose(_text(path)).splitlines():
        if m := re.match(r"^#{1,6} (.+)$", line):
            base = _anchor(m.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return found


async def _tools(tmp_path: Path) -> dict[str, dict[str, bool]]:
    """Every tool of every server with sandbox_test switched on: {tool: {argument: required}}."""
    settings = Settings(
        db=tmp_path / "rt.db", agent="ana", role="admin", sandbox_root=tmp_path, sandbox_allow=("pytest",)
    )
    found: dict[str, dict[str, bool]] = {}
    for kind in SERVER_KINDS:
        module = importlib.import_module(f"servers.{kind}")
        async with Client(module.build_server(settings)) as c:
            for t in (await c.list_tools()).tools:
                required = set(t.input_schema.get("required", []))
                found[t.name] = {name: name in required for name in t.input_schema.get("properties", {})}
    return found


@pytest.mark.anyio
async def test_tools_md_lists_every_tool_with_exactly_its_arguments(tmp_path: Path) -> None:
    rows: dict[str, dict[str, bool]] = {}
    for line in _text(DOCS / "TOOLS.md").splitlines():
        if m := re.match(r"^\| `([a-z_]+)` \| ([^|]*) \|", line):
            cell = m.group(2).strip()
            rows[m.group(1)] = {name: bool(bold) for bold, name in re.findall(r"(\*\*)?`([a-z_]+)`(?:\*\*)?", cell)}
    tools = await _tools(tmp_path)
    assert set(tools) - set(rows) == set(), "tools without a row in docs/TOOLS.md"
    for name, arguments in tools.items():
        assert rows[name] == arguments, (name, "docs/TOOLS.md (bold: required)", rows[name], "server", arguments)
    assert "`improvement_propose`" in _text(DOCS / "TOOLS.md")  # the unlisted alias is explained


def test_settings_md_names_every_setting_and_the_docs_no_other() -> None:
    code = "".join(_text(p) for folder in ("servers", "shared") for p in (ROOT / folder).rglob("*.py"))
    read = set(re.findall(r"\"(ROUNDTABLE_[A-Z_]+)\"", code))
    settings = set(SETTING.findall(_text(DOCS / "SETTINGS.md")))
    assert read - settings == set(), "settings the code reads that docs/SETTINGS.md does not name"
    for page in PAGES:
        named = set(SETTING.findall(_text(page)))
        assert named - read - TEST_ONLY == set(), f"{page.name} names settings the code never reads"


def test_settings_md_names_the_toolsets_as_the_rule_defines_them() -> None:
    section = _text(DOCS / "SETTINGS.md").split("## Toolsets", 1)[1].split("\n## ", 1)[0]
    core = section.split("`core` —", 1)[1].split(":", 1)[0]
    assert re.findall(r"`([a-z_]+)`", core) == list(toolsets.CORE)
    assert all(f"`{group}`" in section for group in toolsets.GROUPS)


def test_health_md_names_every_reason_code() -> None:
    source = _text(ROOT / "shared" / "store" / "team" / "health.py")
    codes = set(re.findall(r"add\(\s*\"([a-z_]+)\"", source)) | set(re.findall(r"code=\"([a-z_]+)\"", source))
    assert len(codes) >= 12, codes
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", _text(DOCS / "HEALTH.md"), flags=re.M))
    assert documented == codes


def test_cli_md_names_every_command() -> None:
    (sub,) = (a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    page = _text(DOCS / "CLI.md")
    missing = [name for name in sub.choices if f"`roundtable {name}" not in page]
    assert missing == [], "commands docs/CLI.md does not list"


def test_cli_md_names_the_commands_that_take_no_db() -> None:
    """ "Each command but … takes `--db`": the commands named there are exactly those without the flag."""
    (sub,) = (a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))

    def takes_db(parser: argparse.ArgumentParser) -> bool:
        nested = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if nested:  # `token`: each of its actions
            return all(takes_db(p) for p in nested[0].choices.values())
        return any("--db" in a.option_strings for a in parser._actions)

    without = {name for name, parser in sub.choices.items() if name != "hook" and not takes_db(parser)}
    [said] = re.findall(r"Each command but (.+?) takes `--db`", " ".join(_text(DOCS / "CLI.md").split()))
    assert set(re.findall(r"`([a-z]+)`", said)) == without, said


def test_every_relative_link_resolves() -> None:
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", _prose(_text(page))):
            if re.match(r"^[a-z]+:", target):
                continue  # https:, mailto:
            file, _, anchor = target.partition("#")
            path = (page.parent / file).resolve() if file else page
            if not path.exists():
                broken.append(f"{page.name}: {target} (no such file)")
            elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert broken == []


def test_every_client_config_shown_is_complete_json_for_the_four_servers() -> None:
    """A block a person pastes is valid JSON naming all four servers with one `env` (one agent): never one
    entry and "the same for the others", which splits the team when pasted as it is."""
    blocks = [("claude_desktop_config.example.json", _text(ROOT / "claude_desktop_config.example.json"))]
    for page in PAGES:
        blocks += [(page.name, b) for b in re.findall(r"^```json\n(.*?)^```", _text(page), flags=re.M | re.S)]
    shown = 0
    for where, block in blocks:
        if "mcpServers" not in block:
            continue
        servers = json.loads(block)["mcpServers"]
        assert set(servers) == {f"roundtable-{kind}" for kind in SERVER_KINDS}, where
        assert len({json.dumps(s.get("env"), sort_keys=True) for s in servers.values()}) == 1, where
        shown += 1
    assert shown >= 3
