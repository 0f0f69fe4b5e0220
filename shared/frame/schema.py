"""The schemas a model reads in tools/list, as small as they can be without changing what they accept.

Every byte of a tools/list is read by the model on every conversation, so each tool's schemas are
compacted once, when `add_tools` registers it (the argument model that validates a call is untouched):

- input: pydantic's generated "title"s go (they repeat each name in Title Case); an optional argument's
  `anyOf [X, null]` becomes X with its null default left out (leaving an argument out is how a model says
  "none"); defaults that say nothing (null, "", [], {}, false) go; text and list sizes, integer minimums of
  0 or 1 and guards of 2^31 and above go (every call still checks them and a refusal names the limit);
  numeric limits a model needs (limit ≤ 100, progress ≤ 100) stay.
- output: titles, field descriptions, defaults, `required` lists and enums go (each only explains or
  narrows; what a field means is in the tool's description, and the structured content is for programs);
  `anyOf [X, null]` becomes X with "null" in its type; `"type": "object"` beside `properties` goes below
  the top (the top keeps it, as MCP requires); a definition holding every property of a smaller one (the
  full task beside the short task line) lists only the rest beside `allOf` of the smaller one. The shapes
  stay, so every result still validates.
"""

from __future__ import annotations

from typing import Any

SILENT_DEFAULTS: tuple[Any, ...] = (None, "", [], {}, False)
SIZE_LIMITS = frozenset({"maxLength", "minLength", "maxItems"})
"""Text and list sizes are checked on every call and a refusal names the limit; listed, they are noise (as
are an id's minimum of 1 and the 2^62 guards)."""


OUTPUT_NOISE = frozenset({"description", "default", "required", "enum"})
"""Left out of output schemas: each only narrows or explains, so the schema still accepts every result."""


def _says_nothing(value: Any) -> bool:
    return any(value == silent and type(value) is type(silent) for silent in SILENT_DEFAULTS)


def _is_title(key: str, value: Any, parent_key: str | None) -> bool:
    # a property named "title" (task_create's) is a key of "properties"; a generated title is a string
    return key == "title" and isinstance(value, str) and parent_key != "properties"


def _drop_null(schema: dict[str, Any]) -> dict[str, Any] | None:
    """The one non-null arm of an `anyOf [X, null]`, else None."""
    arms = schema.get("anyOf")
    if not isinstance(arms, list) or len(arms) != 2 or {"type": "null"} not in arms:
        return None
    (arm,) = [a for a in arms if a != {"type": "null"}]
    return arm if isinstance(arm, dict) else None


def input_schema(schema: Any, parent_key: str | None = None) -> Any:
    """An argument schema as the model reads it (see the module's docstring)."""
    if isinstance(schema, list):
        return [input_schema(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    arm = _drop_null(schema)
    if arm is not None:
        rest = {k: v for k, v in schema.items() if k != "anyOf"}
        schema = {**arm, **rest}
    for key, value in schema.items():
        if _is_title(key, value, parent_key):
            continue
        if parent_key != "properties" and ((key == "default" and _says_nothing(value)) or key in SIZE_LIMITS):
            continue
        out[key] = input_schema(value, key)
    return out


def output_schema(schema: Any, parent_key: str | None = None, *, top: bool = True) -> Any:
    """A result schema as the model reads it (see the module's docstring); it accepts what the model's
    schema accepts."""
    if isinstance(schema, list):
        return [output_schema(v, top=False) for v in schema]
    if not isinstance(schema, dict):
        return schema
    arm = _drop_null(schema)
    if arm is not None and set(arm) <= {"type", "items", "enum"} and isinstance(arm.get("type"), str):
        rest = {k: v for k, v in schema.items() if k != "anyOf"}
        schema = {**arm, **rest, "type": [arm["type"], "null"]}
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if _is_title(key, value, parent_key):
            continue
        if key in OUTPUT_NOISE and parent_key != "properties":
            continue
        if key == "type" and value == "object" and "properties" in schema and not top and parent_key != "properties":
            continue  # properties only ever describe an object; the top keeps its type, as MCP requires
        out[key] = output_schema(value, key, top=False)
    return _shared_definitions(out) if top else out


def _shared_definitions(schema: dict[str, Any]) -> dict[str, Any]:
    """Each definition that holds all the properties of a smaller one (same names, same shapes) refers to
    the largest such one with `allOf` and lists only its own remaining properties."""
    defs = schema.get("$defs")
    if not isinstance(defs, dict):
        return schema
    props: dict[str, dict[str, Any]] = {
        name: d["properties"]
        for name, d in defs.items()
        if isinstance(d, dict) and set(d) == {"properties"} and isinstance(d["properties"], dict)
    }
    shared = dict(defs)
    for name, mine in props.items():
        inside = [
            other
            for other, theirs in props.items()
            if other != name
            and len(theirs) >= 3
            and len(theirs) < len(mine)
            and all(k in mine and mine[k] == v for k, v in theirs.items())
        ]
        if inside:
            base = max(inside, key=lambda other: len(props[other]))
            rest = {k: v for k, v in mine.items() if k not in props[base]}
            shared[name] = {"allOf": [{"$ref": f"#/$defs/{base}"}], "properties": rest}
    return {**schema, "$defs": shared}
