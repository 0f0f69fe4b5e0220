"""Every line a stdio client sends is answered (shared/frame/wire.py): a line the SDK's parser refuses but
that is valid JSON is read (a lone surrogate escape, deep nesting, a huge integer), and a line that is not a
JSON-RPC message gets the JSON-RPC error for it, with its id, at once instead of a client's timeout."""

from __future__ import annotations

import json
import select
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shared.frame import wire
from tests.stdio import server_params

HELLO = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
}


class Lines:
    """A client writing JSON-RPC lines by hand to a real server process."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def answer(self, line: str) -> dict[str, Any]:
        """The server's answer to `line`; a line left unanswered fails the test in 20 s, not at a hang."""
        self.send(line)
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 20)
        assert ready, f"no answer to {line[:80]!r}"
        return dict(json.loads(self.proc.stdout.readline()))


@contextmanager
def talking_to(kind: str, db: Path) -> Iterator[Lines]:
    params = server_params(kind, db, "ana")
    with subprocess.Popen(
        [params.command, *params.args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=params.env
    ) as proc:
        lines = Lines(proc)
        assert "result" in lines.answer(json.dumps(HELLO))
        lines.send('{"jsonrpc":"2.0","method":"notifications/initialized"}')
        try:
            yield lines
        finally:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(timeout=20)


def call(request_id: int, tool: str, arguments: str) -> str:
    params = f'{{"name":"{tool}","arguments":{arguments}}}'
    return f'{{"jsonrpc":"2.0","id":{request_id},"method":"tools/call","params":{params}}}'


def text(answer: dict[str, Any]) -> str:
    return str(answer["result"]["content"][0]["text"])


def test_valid_json_the_sdk_parser_refuses_is_read_and_answered(tmp_path: Path) -> None:
    with talking_to("messaging", tmp_path / "team.db") as server:
        # JavaScript's JSON.stringify writes a lone surrogate for a string cut inside an emoji
        sent = server.answer(call(2, "message_send", '{"to":["ana"],"body":"cut \\ud83d here"}'))
        assert sent["id"] == 2 and not sent["result"].get("isError"), sent
        assert json.loads(text(sent))["message"]["body"] == "cut \ufffd here"
        nested = server.answer(call(3, "message_send", '{"to":["ana"],"body":' + "[" * 300 + "]" * 300 + "}"))
        assert nested["result"]["isError"] and text(nested).startswith("message_send: 'body' must be text"), nested
        huge = server.answer(call(4, "message_query", '{"limit":' + "9" * 5000 + "}"))
        assert huge["result"]["isError"] and text(huge).startswith("message_query: 'limit'"), huge
        after = server.answer(call(5, "message_query", '{"limit":1}'))
        assert json.loads(text(after))["messages"][0]["body"] == "cut \ufffd here"


def test_a_line_that_is_not_a_json_rpc_message_gets_its_error_with_its_id(tmp_path: Path) -> None:
    with talking_to("coordination", tmp_path / "team.db") as server:
        cut = server.answer('{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":')
        assert cut == {"jsonrpc": "2.0", "id": 7, "error": {"code": -32700, "message": wire.PARSE_ERROR}}
        no_method = server.answer('{"jsonrpc":"2.0","id":"eight"}')
        assert no_method["id"] == "eight" and no_method["error"]["code"] == -32600, no_method
        assert server.answer("[1, 2]")["error"]["code"] == -32600
        nonsense = server.answer("hello")
        assert nonsense["id"] is None and nonsense["error"]["code"] == -32700
        server.send('{"jsonrpc":"2.0","method":5}')  # a broken notification: nothing to answer, nothing breaks
        for blank in ("", "   ", "\r"):  # no message at all: each got a parse error with id null
            server.send(blank)
        assert "result" in server.answer(call(9, "task_list", "{}"))


def test_a_tool_call_whose_arguments_are_not_an_object_is_told_the_shape(tmp_path: Path) -> None:
    """The SDK answered these with 'Invalid request parameters' and empty data: nothing to go on."""
    with talking_to("coordination", tmp_path / "team.db") as server:
        for n, arguments in enumerate(("[1, 2]", '"task_id=3"', "7"), start=10):
            refused = server.answer(call(n, "task_list", arguments))
            assert refused == {"jsonrpc": "2.0", "id": n, "error": {"code": -32602, "message": wire.TOOL_CALL_SHAPE}}
        unnamed = server.answer('{"jsonrpc":"2.0","id":20,"method":"tools/call","params":{"name":null}}')
        assert unnamed["error"]["message"] == wire.TOOL_CALL_SHAPE
        bare = server.answer('{"jsonrpc":"2.0","id":21,"method":"tools/call","params":{"name":"task_list"}}')
        assert "result" in bare and "result" in server.answer(call(22, "task_list", "null"))


def test_a_request_whose_id_is_not_text_or_a_whole_number_is_answered(tmp_path: Path) -> None:
    """The SDK's reader took {"id": 1.5, "method": "tools/list"} for a notification (dropping the id) and nothing
    answered it: the client waited for its timeout."""
    with talking_to("coordination", tmp_path / "team.db") as server:
        for odd in ("1.5", "null", "true", '{"n":1}', "[3]"):
            refused = server.answer(f'{{"jsonrpc":"2.0","id":{odd},"method":"tools/list"}}')
            assert refused["id"] is None and refused["error"] == {
                "code": -32600,
                "message": wire.NO_ID.format(method="tools/list"),
            }, (odd, refused)
        idless = server.answer('{"jsonrpc":"2.0","method":"tools/call","params":{"name":"task_list"}}')
        assert "tools/call is a request: give it an id" in idless["error"]["message"]
        server.send('{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":99}}')  # no answer
        assert server.answer(call(30, "task_list", "{}"))["id"] == 30


def test_an_initialize_of_the_wrong_shape_is_told_the_shape(tmp_path: Path) -> None:
    """protocolVersion 5 or a clientInfo without a version was 'Invalid request parameters', naming nothing."""
    params = server_params("coordination", tmp_path / "team.db", "ana")
    with subprocess.Popen(
        [params.command, *params.args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=params.env
    ) as proc:
        lines = Lines(proc)
        for n, wrong in enumerate(({"protocolVersion": 5}, {"clientInfo": {"name": "raw"}}, {"capabilities": []})):
            hello = {**HELLO, "id": n + 70, "params": {**HELLO["params"], **wrong}}  # type: ignore[dict-item]
            refused = lines.answer(json.dumps(hello))
            assert refused["id"] == n + 70 and refused["error"] == {"code": -32602, "message": wire.INITIALIZE_SHAPE}
        assert "result" in lines.answer(json.dumps(HELLO))
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=20)


def test_a_resource_read_or_prompt_get_of_the_wrong_shape_is_told_the_shape(tmp_path: Path) -> None:
    """Like a tools/call's, these were 'Invalid request parameters' with empty data."""
    with talking_to("knowledge", tmp_path / "team.db") as server:
        for n, params in enumerate(("{}", '{"uri":5}', '{"uri":null}'), start=40):
            refused = server.answer(f'{{"jsonrpc":"2.0","id":{n},"method":"resources/read","params":{params}}}')
            assert refused["error"] == {"code": -32602, "message": wire.RESOURCE_READ_SHAPE}, refused
        for n, params in enumerate(('{"arguments":{}}', '{"name":"ship","arguments":{"branch":5}}'), start=50):
            refused = server.answer(f'{{"jsonrpc":"2.0","id":{n},"method":"prompts/get","params":{params}}}')
            assert refused["error"] == {"code": -32602, "message": wire.PROMPT_GET_SHAPE}, refused
        unknown = server.answer('{"jsonrpc":"2.0","id":60,"method":"prompts/get","params":{"name":"ship"}}')
        assert unknown["error"]["message"].startswith("there is no skill named 'ship'"), unknown
        read = server.answer('{"jsonrpc":"2.0","id":61,"method":"resources/read","params":{"uri":"roundtable://me"}}')
        assert "contents" in read["result"]
