"""pydantic models of the files in a rules directory (RULES-FORMAT.md).

These validate the *shape* of ``schema.yaml`` and rule set files and give
``pyengine schema`` its JSON Schema. Expressions are kept as text here; the
resolver parses them from the YAML source map so positions stay exact.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

RULESET_NAME = r"^[a-z][a-z0-9_-]*$"
RULE_ID = r"^[a-z][a-z0-9_]*$"
FIELD_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"

Action = Literal["approve", "flag", "review", "reject"]
# An expression as YAML gives it: `amount > 1` (str), `25` (int), `true` (bool)...
Expression = Annotated[
    str | bool | int | float,
    Field(description="an expression (CEL subset); see RULES-FORMAT.md"),
]
# Names become Java identifiers and constants, whose length the JVM bounds; 128
# characters is plenty for a name and keeps generated code readable.
NAME_LIMIT = 128
RuleId = Annotated[str, StringConstraints(pattern=RULE_ID, max_length=NAME_LIMIT)]
RuleSetName = Annotated[str, StringConstraints(pattern=RULESET_NAME, max_length=NAME_LIMIT)]
FieldName = Annotated[str, StringConstraints(pattern=FIELD_NAME, max_length=NAME_LIMIT)]
OutputName = FieldName
ClientId = Annotated[str, StringConstraints(min_length=1, max_length=NAME_LIMIT)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SchemaFile(_Strict):
    """``schema.yaml``: field name -> type (``int``, ``decimal(2)``, ``string?``...)."""

    fields: dict[FieldName, str]


class RuleModel(_Strict):
    """One rule: a condition, an action and optional outputs."""

    id: RuleId
    when: Expression
    action: Action
    reason: str | None = None
    priority: int = 0
    hot: bool = False
    set: dict[OutputName, Expression | None] = Field(default_factory=dict)


class TableModel(_Strict):
    """A decision table; cells are DMN unary tests, output cells are expressions."""

    id: RuleId
    hit: Literal["first", "unique", "any", "collect"] = "first"
    aggregate: Literal["sum", "min", "max", "count"] | None = None
    inputs: list[Expression] = Field(min_length=1)
    outputs: dict[OutputName, str] = Field(min_length=1)
    default: dict[OutputName, Expression | None] | None = None
    rows: list[list[Expression | None]] = Field(default_factory=list)


class ExpectModel(_Strict):
    """What a rule test checks; only the named parts are compared."""

    decision: Action | None = None
    ruleset: str | None = None
    fired: list[str] | None = None
    outputs: dict[str, Any] | None = None
    error: str | None = None


class TestModel(_Strict):
    """A rule test: one transaction and what must come out of it."""

    name: str
    txn: dict[str, Any]
    expect: ExpectModel


class RuleSetFile(_Strict):
    """A rule set file: rules and tables serving some clients."""

    ruleset: RuleSetName
    clients: list[ClientId] | None = None
    extends: list[RuleSetName] = Field(default_factory=list)
    default: bool = False
    mode: Literal["all", "first"] = "all"
    rules: list[RuleModel] = Field(default_factory=list)
    tables: list[TableModel] = Field(default_factory=list)
    tests: list[TestModel] = Field(default_factory=list)


def ruleset_json_schema() -> dict[str, Any]:
    """The JSON Schema of a rule set file (for editor completion)."""
    schema = RuleSetFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "pyengine rule set"
    return schema
