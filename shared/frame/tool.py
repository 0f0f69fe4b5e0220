"""The `@tool` decorator and `add_tools`: tools are module-level `async def` functions, registered in one
visible place per server (its `build_server`), so `grep "def task_claim"` finds the tool itself.

`@tool(...)` records true annotations on the function and wraps it so that domain and database errors
become ToolErrors whose text names the fix (errors.domain_error). The docstring is the description the
model reads.
"""

from __future__ import annotations

import copy
import difflib
import functools
import inspect
import json
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from types import UnionType
from typing import Annotated, Any, ParamSpec, TypeVar, Union, get_args, get_origin

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import StrictJsonSchema
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import (
    BaseModel,
    ConfigDict,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from shared.errors import RoundtableError, domain_error
from shared.frame import schema
from shared.rules import quoting, toolsets

P = ParamSpec("P")
R = TypeVar("R")

ANNOTATIONS = "__roundtable_tool__"


def tool(
    mcp: MCPServer[Any] | None = None,
    *,
    read_only: bool,
    destructive: bool = False,
    idempotent: bool = False,
    title: str | None = None,
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Mark an async function as a tool with true annotations (registered later by `add_tools`).

    Passing `mcp` registers it at once (the older closure style, until every server is converted).
    """

    def decorate(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(fn)
        async def call(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return await fn(*args, **kwargs)
            except (RoundtableError, sqlite3.Error) as exc:
                raise ToolError(str(domain_error(exc))) from exc

        annotations = ToolAnnotations(
            title=title,
            read_only_hint=read_only,
            destructive_hint=None if read_only else destructive,
            idempotent_hint=idempotent,
            open_world_hint=False,
        )
        setattr(call, ANNOTATIONS, annotations)
        if mcp is not None:
            add_tools(mcp, [call])
            return fn
        return call

    return decorate


def add_tools(mcp: MCPServer[Any], *groups: Iterable[Callable[..., Awaitable[Any]]]) -> None:
    """Register each group's `@tool` functions on `mcp`, in order; a server with a `toolset` (its
    settings' ROUNDTABLE_TOOLS) registers only the tools it names."""
    toolset: frozenset[str] | None = getattr(mcp, "toolset", None)
    for group in groups:
        for fn in group:
            annotations = getattr(fn, ANNOTATIONS, None)
            if annotations is None:
                raise TypeError(f"{fn.__name__} is not decorated with @tool")
            if toolset is not None and toolsets.ALIASES.get(fn.__name__, fn.__name__) not in toolset:
                continue
            returns = _result_model(fn)
            description = inspect.cleandoc(fn.__doc__ or "")
            # A tool returning a model is registered without the SDK deriving its output schema: _make_strict
            # sets the model and its schema, derived once per model (several tools share one) the SDK's way.
            structured = None if returns is None else False
            mcp.tool(annotations=annotations, description=description, structured_output=structured)(fn)
            _make_strict(mcp, fn.__name__, returns)


def _result_model(fn: Callable[..., Any]) -> type[BaseModel] | None:
    """The model `fn` returns (its return annotation), or None for any other return type. Only the return
    annotation is evaluated, as inspect does with eval_str: the SDK evaluates the whole signature itself, and
    evaluating every argument's annotation again cost 6 ms of coordination's start (bench.startup)."""
    inner = inspect.unwrap(fn)
    returns = inspect.get_annotations(inner).get("return")
    if isinstance(returns, str):  # postponed (from __future__ import annotations): the module's own text
        returns = eval(returns, getattr(inner, "__globals__", {}))
    return returns if isinstance(returns, type) and issubclass(returns, BaseModel) else None


class _TopLevelJsonSchema(StrictJsonSchema):
    """The SDK's generator for a result's schema, describing every model but `top` as a bare object: the listed
    schema (schema.output_schema) keeps nothing more of a record inside a field, and walking every nested model
    was most of a server's schema time at start-up (74 ms for the four servers' 25 result models; 18 now)."""

    top: type[BaseModel] | None = None

    def model_schema(self, core: Any) -> Any:
        if core["cls"] is not self.top:
            return {"type": "object"}
        return super().model_schema(core)


@functools.cache
def _listed_output_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The output schema listed for tools returning `model`: what the SDK derives (FuncMetadata, on construction,
    as for any tool) compacted by schema.output_schema — the same schema, read off the model's own fields
    (tests/servers/test_surface.py checks every tool against the SDK's derivation)."""
    generator = type("TopLevelJsonSchema", (_TopLevelJsonSchema,), {"top": model})
    derived = TypeAdapter(model).json_schema(schema_generator=generator)
    ref = derived.get("$ref")  # a self-referential model's root: its definition, as the SDK inlines it
    if isinstance(ref, str):
        derived = {**derived["$defs"][ref.rsplit("/", 1)[-1]], **{k: v for k, v in derived.items() if k != "$ref"}}
    return dict(schema.output_schema(derived))


# --- Arguments are checked: the one place every tool of every server refuses what it does not take ---

INTENTS: dict[tuple[str, str], str] = {
    ("task_complete", "status"): "use success=false to report a failure (success=true, the default, for done)",
    ("task_create", "blocked_by"): "use depends_on=[ids]",
    ("task_create", "assigned_to"): "use assignee=NAME",
    ("task_list", "assigned_to"): "use assignee=NAME",
    ("task_list", "assigned"): "use assignee=NAME",
    ("task_update", "success"): "finish with task_complete(success=...)",
    ("task_update", "result"): "finish with task_complete(result=...), or use note=... for progress",
    ("knowledge_query", "query"): "use text=...",
    ("message_query", "unread"): "use unread_only=true|false",
    ("skill_execute", "args"): "use arguments={...}",
}
"""Known intents that belong to another argument or tool: (tool, argument given) → the fix."""

VALUE_INTENTS: dict[tuple[str, str, str], str] = {
    ("task_update", "status", "done"): "task_update cannot set status 'done'; finish with task_complete",
    ("task_update", "status", "completed"): "task_update cannot set status 'completed'; finish with task_complete",
    ("task_update", "status", "failed"): "task_update cannot set status 'failed'; use task_complete(success=false)",
    ("task_update", "status", "claimed"): "task_update cannot set status 'claimed'; take it with task_claim",
}
"""Known values that belong to another tool: (tool, argument, value) → the whole answer."""


@dataclass(frozen=True)
class Mode:
    """An argument that switches a tool into a mode where other arguments do nothing: given together, they are
    refused (never dropped) with `<argument> <does>; leave out <them>, or <otherwise>`."""

    does: str
    otherwise: str
    ignores: tuple[str, ...]
    agrees: tuple[tuple[str, Any], ...] = ()
    """An ignored argument's value saying what the mode does anyway (else its default agrees)."""


MODES: dict[tuple[str, str], Mode] = {
    ("task_list", "task_id"): Mode(
        "reads one task in full",
        "drop task_id to filter the list",
        ("status", "ready_only", "mine", "assignee", "tag", "text", "limit", "cursor"),
    ),
    ("consensus_list", "proposal_id"): Mode(
        "reads one proposal in full", "drop proposal_id to filter the list", ("status", "limit")
    ),
    ("message_query", "thread"): Mode(
        "reads that whole thread, read or not",
        "drop thread to filter your mail",
        ("unread_only", "sender", "topic", "since", "text", "sent", "limit", "cursor"),
        agrees=(("unread_only", False),),
    ),
    ("message_query", "sent"): Mode(
        "lists the mail you sent with who read and acknowledged it",
        "drop sent to filter your inbox",
        ("unread_only", "sender", "topic", "since", "text"),
        agrees=(("unread_only", False),),
    ),
}
"""(tool, argument) → the mode it switches on when given (not null, not false) and what that mode ignores."""

_KINDS: dict[str, str] = {
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "int_parsing_size": "must be a whole number below 2^63",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "string_type": "must be text",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "finite_number": "must be a finite number",
    "string_unicode": "must be valid unicode text",
    "id_type": "must be text or a whole number",
}


def id_text(value: Any) -> Any:
    """For a text argument naming an id (`BeforeValidator(id_text)`, after its Field): a whole number is taken as
    its text (12 is '12'), text and None pass on, anything else is refused in one line."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if value is None or isinstance(value, str):
        return value
    raise PydanticCustomError("id_type", "an id is text or a whole number")


def one_item(value: Any) -> Any:
    """For a list's item that can never hold a comma (a tag, a capability, an agent's name; `AfterValidator`):
    "a, b" is two items run together, refused in one line that shows them apart (it was kept as one tag)."""
    if isinstance(value, str) and "," in value:
        raise PydanticCustomError("comma_list", "one item, not a list")
    return value


def _where(loc: tuple[Any, ...]) -> str:
    head, *rest = loc or ("arguments",)
    return str(head) + "".join(f"[{part}]" if isinstance(part, int) else f".{_short(part)}" for part in rest)


def _short(part: Any) -> str:
    """A key of an object argument (a tool's, a resource's name) as shown in a refusal: a long one cut."""
    return quoting.cut(str(part))


def _shown(value: Any) -> str:
    return quoting.cut(repr(value))


def explain(tool_name: str, fields: Sequence[str], exc: ValidationError, model: type[BaseModel] | None = None) -> str:
    """One line naming the fix for the first of pydantic's errors (never pydantic's text or its URL); `model`, the
    arguments' model, names the keys an object inside them takes."""
    errors = exc.errors(include_url=False)
    order = {"extra_forbidden": 0, "missing": 2}  # an unknown argument first, a missing one last
    error = min(errors, key=lambda e: order.get(e["type"], 1))
    kind, ctx, where = error["type"], error.get("ctx") or {}, _where(tuple(error["loc"]))
    value = error.get("input")
    if "at" in ctx:  # found inside the argument's value (_storable): its place there and the value at it
        where, value = where + str(ctx["at"]), ctx.get("value")
    if kind == "extra_forbidden" and len(error["loc"]) > 1:  # a key inside an object argument
        inner, takes = _where(tuple(error["loc"][:-1])), _keys_at(model, tuple(error["loc"][:-1]))
        takes = f" (it takes: {takes})" if takes else ""
        return f"{tool_name}: '{inner}' has no '{_short(error['loc'][-1])}'{takes}"
    if kind == "extra_forbidden":
        name = str(error["loc"][0])
        fix = INTENTS.get((tool_name, name))
        if fix is None and len(name) <= 100:  # a name far longer than any argument's is near none of them
            near = difflib.get_close_matches(name, fields, n=1, cutoff=0.6)
            fix = f"did you mean '{near[0]}'?" if near else ""
        takes = ", ".join(fields) or "no arguments"
        return f"{tool_name} has no '{_short(name)}'{'; ' + fix if fix else ''} (it takes: {takes})"
    if kind == "missing":
        return f"{tool_name} needs '{where}'"
    if kind == "literal_error":
        known = VALUE_INTENTS.get((tool_name, str(error["loc"][0]), str(value).strip().lower()))
        if known:
            return known
        return f"{tool_name}: '{where}' must be one of {ctx.get('expected', '')}, not {_shown(value)}"
    if kind in _KINDS:
        return f"{tool_name}: '{where}' {_KINDS[kind]}, not {_shown(value)}"
    if kind == "comma_list":
        apart = [part.strip() for part in str(value).split(",") if part.strip()]
        return f"{tool_name}: '{where}' is one item, not a list: give each its own, e.g. {_shown(apart)}"
    if kind == "mode_ignores":
        return str(ctx.get("message", ""))
    if kind == "string_nul":  # a NUL character: PostgreSQL cannot store one, and no tool means it
        return f"{tool_name}: '{where}' must not contain a NUL character (\\x00); remove it"
    if kind in ("string_too_long", "too_long"):
        limit = ctx.get("max_length")
        unit = "characters" if kind == "string_too_long" else "items"
        return f"{tool_name}: '{where}' is too long: at most {limit} {unit}"
    if kind in ("string_too_short", "too_short"):
        least = int(ctx.get("min_length", 1))
        if least > 1:
            unit = "characters" if kind == "string_too_short" else "items"
            return f"{tool_name}: '{where}' needs at least {least} {unit}, not {ctx.get('actual_length', len(value))}"
        return f"{tool_name}: '{where}' must not be empty"
    if kind == "string_pattern_mismatch":
        return f"{tool_name}: '{where}' must match {ctx.get('pattern', '')}, not {_shown(value)}"
    bounds = {
        "greater_than_equal": "at least",
        "greater_than": "more than",
        "less_than_equal": "at most",
        "less_than": "less than",
    }
    if kind in bounds and (value != value or str(value).strip().lower() == "nan"):  # NaN fails every bound
        return f"{tool_name}: '{where}' {_KINDS['finite_number']}, not {_shown(value)}"
    if kind in bounds:
        limit = next(iter(ctx.values()), "")
        return f"{tool_name}: '{where}' must be {bounds[kind]} {limit}, not {_shown(value)}"
    message = str(error.get("msg", "is not valid")).splitlines()[0]
    return f"{tool_name}: '{where}': {message}"


def _keys_at(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> str:
    """The keys the object at `loc` inside `model`'s arguments takes ("" when it is not a model's object)."""
    for part in loc:
        if isinstance(part, int):
            continue  # an item of a list: the list's model
        field = model.model_fields.get(str(part)) if model is not None else None
        model = _model_in(field.annotation) if field is not None else None
    return ", ".join(f.alias or n for n, f in model.model_fields.items()) if model is not None else ""


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arm in get_args(annotation):  # list[M], M | None, Annotated[M, ...]
        found = _model_in(arm)
        if found is not None:
            return found
    return None


def _takes_list(annotation: Any) -> bool:
    if get_origin(annotation) is list:
        return True
    if get_origin(annotation) is Annotated:
        return _takes_list(get_args(annotation)[0])
    if get_origin(annotation) in (Union, UnionType):
        return any(_takes_list(arm) for arm in get_args(annotation) if arm is not type(None))
    return False


def _takes_none(annotation: Any) -> bool:
    if annotation is None or annotation is type(None):
        return True
    if get_origin(annotation) is Annotated:
        return _takes_none(get_args(annotation)[0])
    if get_origin(annotation) in (Union, UnionType):
        return any(_takes_none(arm) for arm in get_args(annotation))
    return False


def _number_error(annotation: Any) -> str | None:
    """The error type refusing a boolean for a number argument (int, float, optional or annotated) or for an item
    of a list of numbers, else None."""
    if annotation is int or annotation is float:
        return "int_type" if annotation is int else "float_type"
    if get_origin(annotation) in (Annotated, list):
        return _number_error(get_args(annotation)[0])
    if get_origin(annotation) in (Union, UnionType):
        arms = [arm for arm in get_args(annotation) if arm is not type(None)]
        return _number_error(arms[0]) if len(arms) == 1 else None
    return None


INT64 = 2**63
"""Whole numbers a database column holds: -2^63 <= n < 2^63."""


def _unstorable_at(value: Any, at: str = "") -> tuple[str, str, Any] | None:
    """Where in an argument's value something no database column holds is ('' for the value itself, '[2]',
    '.who'), the error type and the value there, or None: a text with a NUL character, a whole number beyond
    64 bits; in the value itself, a list's items, an object's keys and values, a model's fields."""
    if isinstance(value, str):
        return (at, "string_nul", value) if "\x00" in value else None
    if isinstance(value, int) and not isinstance(value, bool):
        return None if -INT64 <= value < INT64 else (at, "int_parsing_size", value)
    if isinstance(value, list | tuple):
        items: Iterable[tuple[str, Any]] = ((f"{at}[{i}]", v) for i, v in enumerate(value))
    elif isinstance(value, dict):
        items = ((f"{at}.{_short(k)}", v) for k, v in value.items())
        if any(isinstance(k, str) and "\x00" in k for k in value):
            return at, "string_nul", value
    elif isinstance(value, BaseModel):
        items = ((f"{at}.{name}", getattr(value, name)) for name in type(value).model_fields)
    else:
        return None
    return next((found for where, v in items if (found := _unstorable_at(v, where)) is not None), None)


def _storable(cls: type[BaseModel], value: Any) -> Any:
    """Refuse what no database column holds, anywhere in an argument: a NUL character in text (SQLite kept it,
    PostgreSQL cannot: the call failed as a bare "Error executing tool") and a whole number beyond 64 bits (it
    was 'a number is too large', naming no argument), so both engines refuse them alike, naming where."""
    if (found := _unstorable_at(value)) is not None:
        at, kind, inner = found
        raise PydanticCustomError(kind, "a value no database column holds", {"at": at, "value": inner})
    return value


def _mode_check(tool_name: str, arg_model: type[BaseModel]) -> Callable[[BaseModel], BaseModel] | None:
    """The after-validator refusing arguments that a mode of `tool_name` (MODES) would ignore, or None."""
    modes = [(arg, mode) for (name, arg), mode in MODES.items() if name == tool_name]
    if not modes:
        return None
    defaults = {n: f.default for n, f in arg_model.model_fields.items()}
    if unknown := sorted({n for arg, mode in modes for n in (arg, *mode.ignores)} - set(defaults)):
        raise TypeError(f"MODES names arguments {tool_name} does not take: {', '.join(unknown)}")  # at registration

    def check(self: BaseModel) -> BaseModel:
        for arg, mode in modes:
            if getattr(self, arg) in (None, False):
                continue
            agrees = dict(mode.agrees)
            given = [
                n
                for n in mode.ignores
                if n in self.model_fields_set
                and (value := getattr(self, n)) not in (None, "", [], {})
                and value != agrees.get(n, defaults[n])
            ]
            if given:
                message = f"{arg} {mode.does}; leave out {', '.join(given)}, or {mode.otherwise}"
                raise PydanticCustomError("mode_ignores", "{message}", {"message": message})
        return self

    return check


def strict_model(arg_model: type[BaseModel], tool_name: str = "") -> type[BaseModel]:
    """The SDK's argument model refusing unknown arguments (additionalProperties false in the schema), a
    boolean for a number or a list's number (pydantic's lax mode reads true as 1), a NUL character in any text
    and arguments a mode of the tool would ignore (MODES), taking a lone value where a list is expected
    (message_send(to="planner") means to=["planner"]) and null for an optional argument as left out."""
    lists = frozenset(name for name, field in arg_model.model_fields.items() if _takes_list(field.annotation))
    defaulted = frozenset(
        name
        for name, field in arg_model.model_fields.items()
        if not field.is_required() and not _takes_none(field.annotation)
    )
    numbers = {n: e for n, field in arg_model.model_fields.items() if (e := _number_error(field.annotation))}

    def no_boolean(cls: type[BaseModel], value: Any, info: ValidationInfo) -> Any:
        kind = numbers[str(info.field_name)]
        if isinstance(value, bool):
            raise PydanticCustomError(kind, "a boolean is not a number")
        if isinstance(value, list):  # a list of numbers: depends_on=[true] was task 1, ids=true acknowledged 1
            for i, item in enumerate(value):
                if isinstance(item, bool):
                    raise PydanticCustomError(kind, "a boolean is not a number", {"at": f"[{i}]", "value": item})
        return value

    def as_meant(cls: type[BaseModel], data: Any) -> Any:
        """null for an optional argument that takes no null is that argument left out (models send null for "no
        value": it was "'limit' must be a whole number, not None"), and a lone value where a list is expected is
        a list of it."""
        if isinstance(data, dict) and any(
            (k in lists and v is not None and not isinstance(v, list)) or (v is None and k in defaulted)
            for k, v in data.items()
        ):
            return {
                k: [v] if k in lists and v is not None and not isinstance(v, list) else v
                for k, v in data.items()
                if not (v is None and k in defaulted)
            }
        return data

    namespace = {
        # defer_build: its validator is built on the tool's first call, not at start-up for every tool (its
        # schema is never generated: the listed one is the SDK's, see _make_strict).
        "model_config": ConfigDict(**{**arg_model.model_config, "extra": "forbid", "defer_build": True}),
        "as_meant": model_validator(mode="before")(classmethod(as_meant)),  # type: ignore[arg-type]
        "storable": field_validator("*", mode="after")(classmethod(_storable)),
        "__module__": arg_model.__module__,
    }
    if (check := _mode_check(tool_name, arg_model)) is not None:
        namespace["no_ignored"] = model_validator(mode="after")(check)
    if numbers:
        namespace["no_boolean"] = field_validator(*numbers, mode="before")(classmethod(no_boolean))
    return type(arg_model.__name__, (arg_model,), namespace)


class StrictTool(Tool):
    """A registered tool whose refused arguments are answered with one line naming the fix, and whose result is
    built once: the structured content dumped from the returned model, its text the lean JSON of it."""

    async def run(self, arguments: dict[str, Any], context: Any, convert_result: bool = False) -> Any:
        try:
            result = await super().run(arguments, context, convert_result=False)
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, ValidationError) and not isinstance(exc, UnexpectedToolError):
                fields = [f.alias or n for n, f in self.fn_metadata.arg_model.model_fields.items()]
                raise ToolError(explain(self.name, fields, cause, self.fn_metadata.arg_model)) from cause
            if isinstance(cause, ToolError) and not isinstance(exc, UnexpectedToolError):
                # A refusal (a domain error, the tool's own ToolError) is its one line, without the SDK's
                # "Error executing tool <name>: " before it; a crash keeps the SDK's bare generic text.
                raise ToolError(str(cause)) from cause
            raise
        if not convert_result:
            return result
        try:
            return self._converted(result)
        except Exception as exc:  # a result its own model cannot dump is a crash, as the SDK treats it
            raise UnexpectedToolError(f"Error executing tool {self.name}") from exc

    def _converted(self, result: Any) -> Any:
        """The CallToolResult of what the tool returned. The tool's own result model (the common case) is dumped
        once, and its text is the compact JSON of that, leaner; anything else goes the SDK's way."""
        metadata = self.fn_metadata
        if metadata.output_schema is None or metadata.wrap_output or type(result) is not metadata.output_model:
            return compact_result(metadata.convert_result(result))
        structured = result.model_dump(mode="json", by_alias=True)
        text = json.dumps(lean(structured), ensure_ascii=False, separators=(",", ":"))
        return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured)


def lean(value: Any) -> Any:
    """`value` without its null and empty fields (None, "", [], {}), at every depth; list items are kept."""
    if isinstance(value, dict):
        kept = ((k, lean(v)) for k, v in value.items())
        return {k: v for k, v in kept if v is not None and v != "" and v != [] and v != {}}
    if isinstance(value, list):
        return [lean(v) for v in value]
    return value


def compact_result(result: Any) -> Any:
    """A result's text content as compact JSON of its lean structured content (no indentation, no null or
    empty fields): what the model reads. The structured content stays whole, valid against the output schema."""
    if not isinstance(result, CallToolResult) or result.is_error or not isinstance(result.structured_content, dict):
        return result
    blocks = result.content
    if len(blocks) != 1 or not isinstance(blocks[0], TextContent) or not blocks[0].text.startswith(("{", "[")):
        return result  # a plain-text answer (a str result) stays as it is
    text = json.dumps(lean(result.structured_content), ensure_ascii=False, separators=(",", ":"))
    return result.model_copy(update={"content": [TextContent(type="text", text=text)]})


def _make_strict(mcp: MCPServer[Any], name: str, returns: type[BaseModel] | None = None) -> None:
    """Swap the SDK's registration of `name` for a StrictTool with the strict argument model. The SDK has no
    public way to hand it a Tool after construction, so this is the one place reading `_tool_manager._tools`."""
    tools: dict[str, Tool] = mcp._tool_manager._tools
    registered = tools[name]
    metadata = registered.fn_metadata.model_copy()
    metadata.arg_model = strict_model(registered.fn_metadata.arg_model, name)  # type: ignore[assignment]
    fields = {field: getattr(registered, field) for field in Tool.model_fields}
    if returns is not None:  # registered unstructured: the model and its schema are set here (add_tools)
        metadata.output_model = returns
        metadata.output_schema = copy.deepcopy(_listed_output_schema(returns))
    else:
        metadata.output_schema = schema.output_schema(metadata.output_schema)
    # The strict model's schema is the SDK's (already built from the same fields) refusing other keys: reusing
    # it saves generating every tool's argument schema twice at start-up (bench.startup).
    strict = {"additionalProperties": False, **registered.parameters}
    fields |= {"fn_metadata": metadata, "parameters": schema.input_schema(strict)}
    tools[name] = StrictTool(**fields)


def unknown_tool(mcp: MCPServer[Any], name: str) -> str:
    """The answer to a call of a tool this server does not have: the nearest name and the list."""
    hidden: set[str] = getattr(mcp, "hidden", set())
    names = sorted(set(mcp._tool_manager._tools) - hidden)
    near = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    hint = f" did you mean {near[0]}?" if near else ""
    if getattr(mcp, "toolset", None) is not None and name in toolsets.every_tool():
        hint = f" {name} is not in this server's toolset (ROUNDTABLE_TOOLS or --tools; all lists every tool);"
    return f"Unknown tool: {_short(name)};{hint} this server's tools: {', '.join(names)}"


RESOURCES_ELSEWHERE = {"roundtable://inbox": "messaging", "roundtable://status": "monitoring"}
"""A resource only one server serves → that server (the others answer its read with where to find it)."""


def unknown_resource(mcp: MCPServer[Any], uri: str) -> str:
    """The answer to a read of a resource this server does not have: where it is, or this server's resources."""
    names = sorted(str(r.uri) for r in mcp._resource_manager.list_resources())
    elsewhere = RESOURCES_ELSEWHERE.get(uri.strip().rstrip("/").lower())
    hint = f" it is the {elsewhere} server's (roundtable-{elsewhere});" if elsewhere else ""
    return f"Unknown resource: {_short(uri)};{hint} this server's resources: {', '.join(names) or 'none'}"
