"""roundtable-knowledge: the team's shared memory (facts, decisions, how-tos, experiences) and its skills.

A thin MCP adapter over shared/store/knowledge (entries.py, search.py, skills.py); no SQL here. The tools
live in entries.py and skills.py of this package; skills are also served as MCP prompts (prompts.py), read
from the database on every request, so skills another process defines appear too. build_server below is
the one place they are all registered.
"""

from __future__ import annotations

from collections.abc import Sequence

from mcp.server.mcpserver import MCPServer
from mcp.types import GetPromptRequestParams, PaginatedRequestParams

from servers import orientation
from servers.knowledge import entries, prompts, skills
from shared.config import Settings
from shared.frame.notify import advertise, prompts_watcher
from shared.frame.runtime import Runtime, create_server, run_main
from shared.frame.tool import add_tools
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
    add_tools(mcp, entries.TOOLS, skills.TOOLS)
    orientation.register(mcp)
    # Prompts are answered from the skills table, not MCPServer's in-memory registry, so they go to its
    # low-level server (`_lowlevel_server`, private: used for this alone in this server).
    lowlevel = mcp._lowlevel_server
    lowlevel.add_request_handler("prompts/list", PaginatedRequestParams, prompts.list_prompts)
    lowlevel.add_request_handler("prompts/get", GetPromptRequestParams, prompts.get_prompt)
    advertise(mcp, resources=True, subscribe=False, prompts=True)  # roundtable://me (servers/orientation.py)
    return mcp


def main(argv: Sequence[str] | None = None) -> None:
    run_main("knowledge", build_server, DESCRIPTION, argv)
