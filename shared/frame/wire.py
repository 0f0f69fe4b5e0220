"""Every line a stdio client sends gets an answer: the lines the SDK's reader cannot parse are repaired or
refused here, between the SDK's stdio transport and the server loop, instead of being dropped.

The SDK parses each line with pydantic's JSON parser, stricter than JSON itself, and hands the server loop an
exception for a line it refuses, which the loop only logs: the client's request then waits for its timeout.
Three such lines are valid JSON a real client can send:
- a lone UTF-16 surrogate escape ("\\ud800": JavaScript's JSON.stringify writes one for a string cut in the
  middle of an emoji) is read as U+FFFD, as the transport already reads invalid UTF-8;
- arrays or objects nested deeper than pydantic's parser goes are read by Python's;
- an integer of more digits than Python converts is read as a float (an argument check then refuses it).
A line that is still not a JSON-RPC message gets the JSON-RPC error for it (parse error or invalid request)
with the request's id when one can be read, so the client hears at once what to fix; so does a request whose
params are not the shape its method takes (a tools/call whose arguments are not an object, a resources/read
without a uri: the SDK's answer named nothing), and a request whose id is not text or a whole
number (the SDK's reader read it as a notification, which nothing answers).
"""

from __future__ import annotations

import json
import logging
import re
from types import TracebackType
from typing import Any

import anyio
from mcp import types
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

from shared.rules import quoting

log = logging.getLogger(__name__)

_ID = re.compile(r'"id"\s*:\s*(-?\d{1,18}|"(?:[^"\\]|\\.){0,200}")')
"""A request id near the start of a line that did not parse: a number or a short string."""
_SURROGATE = re.compile(r"[\ud800-\udfff]")
PARSE_ERROR = "Parse error: the line is not valid JSON; send one JSON-RPC 2.0 message per line"
INVALID_REQUEST = "Invalid request: the line is JSON but not a JSON-RPC 2.0 message (jsonrpc, id, method, params)"


def _int_or_float(digits: str) -> int | float:
    return int(digits) if len(digits) <= 4000 else float(digits)


def _well_formed(value: Any) -> Any:
    """`value` with every lone surrogate in its strings (keys too) replaced by U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_well_formed(v) for v in value]
    if isinstance(value, dict):
        return {_well_formed(k): _well_formed(v) for k, v in value.items()}
    return value


def _refused(exc: Exception) -> tuple[str | None, Any]:
    """What a refusal of the SDK's reader was about, from pydantic's errors: the line when it did not parse as
    JSON, or the value it parsed to when that was not a JSON-RPC message; (None, None) for anything else."""
    if not isinstance(exc, ValidationError):
        return None, None
    errors = exc.errors(include_url=False)
    for error in errors:
        if error.get("type") == "json_invalid" and isinstance(error.get("input"), str):
            return str(error["input"]), None
    for error in errors:  # the message as a whole: the value a union arm refused outright, or lacks a field of
        if len(error["loc"]) == 1 or (error.get("type") == "missing" and len(error["loc"]) == 2):
            return None, error.get("input")
    return None, None


def _id_in(line: str, parsed: Any) -> int | str | None:
    if isinstance(parsed, dict):
        found = parsed.get("id")
        return found if isinstance(found, int | str) and not isinstance(found, bool) else None
    match = _ID.search(line[:4096])
    if match is None:
        return None
    text = match.group(1)
    try:
        found = json.loads(text)
    except ValueError:
        return None
    return found if isinstance(found, int | str) else None


def repaired(exc: Exception) -> SessionMessage | types.JSONRPCError | None:
    """What to do with an exception the SDK's stdio reader handed on: the message the line holds (a repair),
    the error to answer it with, or None (nothing to answer: not about a line, or a notification)."""
    line, parsed = _refused(exc)
    if line is None and parsed is None:
        return None
    if line is not None and not line.strip():  # a blank line is no message: it got a parse error with id null
        log.info("skipped a blank line from the client")
        return None
    if line is not None:
        try:
            parsed = json.loads(line, parse_int=_int_or_float)
        except (ValueError, RecursionError):
            parsed = None
        else:
            try:
                message = types.jsonrpc_message_adapter.validate_python(_well_formed(parsed), by_name=False)
            except (ValidationError, RecursionError):
                pass
            else:
                log.info("read a line from the client that the SDK's parser refused (repaired)")
                return SessionMessage(message)
    request_id = _id_in(line or "", parsed)
    if parsed is None:
        error = types.ErrorData(code=types.PARSE_ERROR, message=PARSE_ERROR)
    elif request_id is None and isinstance(parsed, dict) and "method" in parsed:
        log.warning("dropped a notification from the client that is not valid JSON-RPC")
        return None
    else:
        error = types.ErrorData(code=types.INVALID_REQUEST, message=INVALID_REQUEST)
    log.warning("answered a line from the client with %s (%s)", error.code, error.message)
    return types.JSONRPCError(jsonrpc="2.0", id=request_id, error=error)


TOOL_CALL_SHAPE = (
    'Invalid params: tools/call takes {"name": "<tool>", "arguments": {"<argument>": <value>, ...}}'
    " (arguments an object of named arguments, or left out)"
)
RESOURCE_READ_SHAPE = 'Invalid params: resources/read takes {"uri": "<uri>"}, e.g. {"uri": "roundtable://me"}'
PROMPT_GET_SHAPE = (
    'Invalid params: prompts/get takes {"name": "<prompt>", "arguments": {"<argument>": "<text>", ...}}'
    " (every argument's value text; arguments an object, or left out)"
)

INITIALIZE_SHAPE = (
    'Invalid params: initialize takes {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo":'
    ' {"name": "<client>", "version": "<version>"}}'
)


def _text_values(value: Any) -> bool:
    return value is None or (isinstance(value, dict) and all(isinstance(v, str) for v in value.values()))


def _introduces(params: dict[str, Any]) -> bool:
    client = params.get("clientInfo")
    return (
        isinstance(params.get("protocolVersion"), str)
        and isinstance(params.get("capabilities"), dict)
        and isinstance(client, dict)
        and isinstance(client.get("name"), str)
        and isinstance(client.get("version"), str)
    )


SHAPES: dict[str, tuple[Any, str]] = {
    "initialize": (_introduces, INITIALIZE_SHAPE),
    "tools/call": (
        lambda p: isinstance(p.get("name"), str) and isinstance(p.get("arguments"), dict | None),
        TOOL_CALL_SHAPE,
    ),
    "resources/read": (lambda p: isinstance(p.get("uri"), str), RESOURCE_READ_SHAPE),
    "prompts/get": (lambda p: isinstance(p.get("name"), str) and _text_values(p.get("arguments")), PROMPT_GET_SHAPE),
}
"""A method → whether its params have the shape it takes, and the answer naming that shape when not."""


def misshapen(item: Any) -> types.JSONRPCError | None:
    """The answer to a request whose params are not the shape its method takes (SHAPES): a tools/call whose name
    is not text or whose arguments are not an object, a resources/read without a text uri, a prompts/get whose
    argument is a number or null. The SDK refused each as 'Invalid request parameters' with nothing more; None
    for anything else."""
    message = getattr(item, "message", None)
    if not isinstance(message, types.JSONRPCRequest) or message.method not in SHAPES:
        return None
    takes, shape = SHAPES[message.method]
    params = message.params
    if isinstance(params, dict) and takes(params):
        return None
    error = types.ErrorData(code=types.INVALID_PARAMS, message=shape)
    return types.JSONRPCError(jsonrpc="2.0", id=message.id, error=error)


NO_ID = (
    "Invalid request: {method} is a request: give it an id, text or a whole number (a line without one is a"
    " notification, which gets no answer)"
)


def idless_request(item: Any) -> types.JSONRPCError | None:
    """The answer to a request sent without a usable id (1.5, null, an object, true): the SDK's reader took it for
    a notification, dropping the id, and the server ignored it, so the client waited for its timeout. Every MCP
    notification's method begins 'notifications/'; None for those and for anything else."""
    message = getattr(item, "message", None)
    if not isinstance(message, types.JSONRPCNotification) or message.method.startswith("notifications/"):
        return None
    error = types.ErrorData(code=types.INVALID_REQUEST, message=NO_ID.format(method=quoting.cut(message.method)))
    return types.JSONRPCError(jsonrpc="2.0", id=None, error=error)


class AnsweringReader:
    """The stdio read stream, less the exceptions: each is repaired into its message, or answered on the write
    stream (`repaired`). Everything else passes through untouched, the sender's context included."""

    def __init__(self, inner: Any, write: Any) -> None:
        self._inner = inner
        self._write = write

    @property
    def last_context(self) -> Any:
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> Any:
        while True:
            item = await self._inner.receive()
            if not isinstance(item, Exception):
                if (refused := misshapen(item) or idless_request(item)) is None:
                    return item
                await self._write.send(SessionMessage(refused))
                continue
            fixed = repaired(item)
            if isinstance(fixed, SessionMessage):
                return fixed
            if fixed is not None:
                await self._write.send(SessionMessage(fixed))

    def __aiter__(self) -> AnsweringReader:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    def close(self) -> None:
        self._inner.close()

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> AnsweringReader:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
