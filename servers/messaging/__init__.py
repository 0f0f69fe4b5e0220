"""roundtable-messaging: direct, topic and broadcast mail between agents; acknowledgements; waiting for mail.

A thin MCP adapter over shared/store/mail (send.py sends, inbox.py reads): the tools are in mail.py,
registered here with the inbox resource, the watcher that tells its subscribers when it changes and mail's
search indexer (shared/store/mail/search.py).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from mcp.server.mcpserver import MCPServer

from servers import orientation
from servers.messaging import mail
from shared.config import Settings
from shared.frame import channel
from shared.frame.notify import advertise, agents_watcher, serve_legacy_subscriptions
from shared.frame.runtime import Runtime, create_server, run_main
from shared.frame.tool import add_tools
from shared.rules.clock import Clock, system_clock

DESCRIPTION = "Roundtable messaging server: mail between agents, topics, broadcasts and waiting for mail."
INBOX_URI = "roundtable://inbox"

INSTRUCTIONS = (
    """\
Mail between the agents sharing one Roundtable database. message_send writes to agent names or to
'topic:<name>'; message_broadcast reaches everyone (also agents who join later). message_query reads your
inbox (unread by default; reading marks as read) and threads; message_wait blocks until mail arrives
instead of polling; message_acknowledge confirms messages that ask for it. System notices (a task assigned
to you, a vote requested, your claim lapsed or was taken over) arrive here too.
"""
    + channel.INSTRUCTIONS
)


def build_server(settings: Settings, clock: Clock = system_clock) -> MCPServer[Runtime]:
    mcp = create_server(
        "messaging",
        settings,
        instructions=INSTRUCTIONS,
        clock=clock,
        background=[agents_watcher(INBOX_URI, mail.unread_fingerprint), channel.PUSH, mail.INDEXING],
        channel=True,
    )
    serve_legacy_subscriptions(mcp)
    add_tools(mcp, mail.TOOLS)
    orientation.register(mcp)
    mcp.resource(
        INBOX_URI,
        name="inbox",
        description="Your unread mail (reading it here does not mark it read)",
        mime_type="application/json",
    )(functools.partial(mail.unread_mail, mcp))
    advertise(mcp, resources=True, subscribe=True, prompts=False)
    return mcp


def main(argv: Sequence[str] | None = None) -> None:
    run_main("messaging", build_server, DESCRIPTION, argv)
