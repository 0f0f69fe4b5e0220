"""Resource-updated notifications in both protocol eras, as a test client sees them."""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from mcp import Client
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp.types import ResourceUpdatedNotification


def collector(updates: list[str]) -> Callable[[Any], Awaitable[None]]:
    """A client message handler appending the URI of every resource-updated notification to `updates`."""

    async def on_message(message: Any) -> None:
        found = message if isinstance(message, ResourceUpdatedNotification) else getattr(message, "root", None)
        if isinstance(found, ResourceUpdatedNotification):
            updates.append(str(found.params.uri))

    return on_message


async def updated_by(
    client: Client, uri: str, mode: str, updates: list[str], change: Callable[[], Awaitable[Any]]
) -> None:
    """Subscribe `client` to `uri` as its protocol era does, make `change`, and wait (bounded) until the
    update arrives. `updates` is the list the client's `collector` fills (legacy mode) and is left holding
    only the updates that came after the change."""
    if mode == "legacy":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            await client.subscribe_resource(uri)
        with anyio.fail_after(5):
            while not updates:  # the level trigger on subscribing: "read it now"
                await anyio.sleep(0.02)
        updates.clear()
        await change()
        with anyio.fail_after(5):
            while not updates:
                await anyio.sleep(0.02)
    else:
        async with client.listen(resource_subscriptions=[uri]) as sub:
            await change()
            with anyio.fail_after(5):
                async for event in sub:
                    updates.append(str(event.uri))  # type: ignore[union-attr]
                    break
