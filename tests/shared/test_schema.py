"""The listed output schemas (shared/frame/schema.py): the top's fields with their types, every record inside
them an object, and every result of the model still valid against it."""

from __future__ import annotations

from typing import Literal

import jsonschema
from pydantic import BaseModel, Field, TypeAdapter

from shared.frame import schema


class Row(BaseModel):
    id: int
    name: str | None = None


class Answer(BaseModel):
    rows: list[Row]
    one: Row | None = Field(default=None, description="said in the tool's description instead")
    tags: list[str] = []
    maybe_ids: list[int] | None = None
    counts: dict[str, int] = {}
    state: Literal["open", "done"] = "open"
    either: int | str = 0
    next_cursor: str | None = None


def listed() -> dict[str, object]:
    return schema.output_schema(TypeAdapter(Answer).json_schema())  # type: ignore[no-any-return]


def test_records_inside_a_result_are_objects_and_the_top_keeps_its_fields() -> None:
    assert listed() == {
        "type": "object",
        "properties": {
            "rows": {"type": "array", "items": {"type": "object"}},
            "one": {"type": ["object", "null"]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "maybe_ids": {"type": ["array", "null"], "items": {"type": "integer"}},
            "counts": {"type": "object"},
            "state": {"type": "string"},
            "either": {"type": ["integer", "string"]},
            "next_cursor": {"type": ["string", "null"]},
        },
    }


def test_every_result_still_validates() -> None:
    shown = listed()
    for answer in (
        Answer(rows=[]),
        Answer(rows=[Row(id=1), Row(id=2, name="b")], one=Row(id=3), tags=["x"], maybe_ids=[1], counts={"a": 1}),
        Answer(rows=[Row(id=1)], state="done", either="text", next_cursor="abc"),
    ):
        jsonschema.validate(answer.model_dump(mode="json"), shown)
    refused = Answer(rows=[]).model_dump(mode="json") | {"rows": "not a list"}
    assert not jsonschema.validators.validator_for(shown)(shown).is_valid(refused)
