"""The schemas a model reads in tools/list, as small as they can be without changing what they accept.

Every byte of a tools/list is read by the model on every conversation, so each tool's schemas are
compacted once, when `add_tools` registers it (the argument model that validates a call is untouched):

- input: pydantic's generated "title"s go (they repeat each name in Title Case); an optional argument's
  `anyOf [X, null]` becomes X with its null default left out (leaving an argument out is how a model says
  "none"); defaults that say nothing (null, "", [], {}, false) go; text and list sizes, integer minimums of
  0 or 1 and guards of 2^31 and above go (every call still checks them and a refusal names the limit);
  numeric limits a model needs (limit ≤ 100, progress ≤ 100) stay.
- output: the top level is described field by field, and a record inside a field (a list's rows, the one
  task or message of an answer, a map) is `{"type": "object"}`: a client validates each result against this
  schema (the Python SDK does, on every call), and a row described property by property costs it a check per
  field per row — milliseconds for a page of tasks or mail —, where an object costs one. What a field holds
  is in the tool's description, and the structured content is for programs. Titles, field descriptions,
  defaults, `required` lists and enums go (each only explains or narrows); `anyOf [X, null]` becomes X with
  "null" in its type. The shapes stay, so every result still validates.
"""

from __future__ import annotations

from typing import Any

SILENT_DEFAULTS: tuple[Any, ...] = (None, "", [], {}, False)
SIZE_LIMITS = frozenset({"maxLength", "minLength", "maxItems"})
"""Text and list sizes are checked on every call and a refusal names the limit; listed, they are noise (as
are an id's minimum of 1 and the 2^62 guards)."""


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


def output_schema(schema: Any) -> Any:
    """A result schema as listed (see the module's docstring): the top's fields with their types, every record
    inside them an object; it accepts what the model's schema accepts."""
    if not isinstance(schema, dict):
        return schema
    defs = schema.get("$defs") or {}
    fields = schema.get("properties") or {}
    out: dict[str, Any] = {"type": "object", "properties": {name: _field(f, defs) for name, f in fields.items()}}
    extra = schema.get("additionalProperties")
    if extra is not None and extra is not True:
        out["additionalProperties"] = _field(extra, defs) if isinstance(extra, dict) else extra
    return out


def _field(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """One field of a result: its type (a record is an object, a list keeps its items' type, a nullable
    field has "null" in its type), nothing that only explains or narrows."""
    ref = schema.get("$ref")
    if isinstance(ref, str):
        schema = defs.get(ref.rsplit("/", 1)[-1], {})
    if "properties" in schema or "allOf" in schema or "additionalProperties" in schema:
        return {"type": "object"}
    arms = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(arms, list):
        shapes = [_field(arm, defs) for arm in arms if isinstance(arm, dict)]
        if all(set(shape) == {"type"} for shape in shapes):
            return {"type": list(dict.fromkeys(t for shape in shapes for t in _types(shape)))}
        if len(shapes) == 2 and {"type": "null"} in shapes:  # a nullable list: its items' type kept
            (shape,) = [shape for shape in shapes if shape != {"type": "null"}]
            return {**shape, "type": [*_types(shape), "null"]}
        return {"anyOf": shapes}
    out: dict[str, Any] = {}
    if "type" in schema:
        out["type"] = schema["type"]
    if isinstance(schema.get("items"), dict):
        out["items"] = _field(schema["items"], defs)
    return out


def _types(shape: dict[str, Any]) -> list[Any]:
    kind = shape.get("type")
    return kind if isinstance(kind, list) else [kind]
