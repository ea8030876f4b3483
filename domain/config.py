"""Load and validate the files a RevOps team edits: `routing.yaml` and `scoring.yaml`.

A mistake fails at start with `ConfigError("<file>:<line>: <where>: <problem>")`.

The files are read with YAML 1.2's core schema: `NO`, `ON`, `YES` and `OFF` are text (only
`true` and `false` are booleans), `09:00` is text rather than sexagesimal minutes, `2026-12-24`
is text rather than a date, and `0100` is one hundred. A rule condition's value is checked
against the type of the field it names in the decision record (`domain.records`): text,
number, true/false, or one of a fixed set of values.
"""

from __future__ import annotations

import re
import types
from collections.abc import Hashable
from datetime import date, time
from pathlib import Path
from typing import (
    Any,
    Literal,
    TypeVar,
    Union,
    get_args,
    get_origin,
    get_type_hints,
    is_typeddict,
)
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from domain.records import DecisionRecord, RoutingAction

M = TypeVar("M", bound=BaseModel)

OPERATORS = {"equals", "in", "not_in", "gte", "lte", "gt", "lt", "regex", "exists"}
COMPARISONS = {"gte", "lte", "gt", "lt"}


class ConfigError(ValueError):
    """A config file is invalid; the message names the file, the line and the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rep(_Strict):
    id: str
    name: str
    email: str
    slack_id: str | None = None
    crm_owner_id: str | None = None
    timezone: str = "UTC"
    working_hours: str = "09:00-17:00"
    weight: float = Field(default=1, gt=0)
    capacity_per_day: int | None = Field(default=None, ge=0)
    out_of_office: list[str] = Field(default_factory=list)
    calcom_event_type_id: int | None = Field(default=None, gt=0)  # the rep's own Cal.com event

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @field_validator("working_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        parse_hours(value)
        return value

    @field_validator("out_of_office")
    @classmethod
    def _ranges(cls, value: list[str]) -> list[str]:
        for item in value:
            parse_date_range(item)
        return value

    def hours(self) -> tuple[time, time]:
        return parse_hours(self.working_hours)

    def is_out_of_office(self, day: date) -> bool:
        return any(start <= day <= end for start, end in map(parse_date_range, self.out_of_office))


class Team(_Strict):
    id: str
    pool: list[str] = Field(min_length=1)
    manager: str | None = None
    sla_minutes: int | None = Field(default=None, gt=0)
    slack_channel: str | None = None
    respect_working_hours: bool = False
    calcom_event_type_id: int | None = Field(default=None, gt=0)  # when a rep has none


class Queue(_Strict):
    id: str
    slack_channel: str | None = None


class Target(_Strict):
    rep: str | None = None
    team: str | None = None
    queue: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Target:
        given = [name for name in ("rep", "team", "queue") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError("assign names exactly one of rep, team, queue")
        return self

    @property
    def kind(self) -> Literal["rep", "team", "queue"]:
        return "rep" if self.rep else "team" if self.team else "queue"

    @property
    def id(self) -> str:
        return self.rep or self.team or self.queue or ""


class Rule(_Strict):
    id: str
    when: dict[str, Any] = Field(default_factory=dict)
    assign: Target
    ignore_ownership: bool = False

    @field_validator("when")
    @classmethod
    def _conditions(cls, value: dict[str, Any]) -> dict[str, Any]:
        for path, cond in value.items():
            if isinstance(cond, dict):
                unknown = set(cond) - OPERATORS
                if unknown:
                    raise ValueError(
                        f"{path}: unknown operator {sorted(unknown)[0]!r} "
                        f"(use {', '.join(sorted(OPERATORS))})"
                    )
                if "regex" in cond:
                    try:
                        re.compile(str(cond["regex"]))
                    except re.error as exc:
                        raise ValueError(f"{path}: bad regex: {exc}") from exc
                for op in ("in", "not_in"):
                    if op in cond and not isinstance(cond[op], list):
                        raise ValueError(f"{path}: {op} takes a list")
            problem = condition_problem(path, cond)
            if problem:
                raise ValueError(f"{path}: {problem}")
        return value


OWNED_ACTIONS: tuple[RoutingAction, ...] = ("book", "draft", "nurture", "support")


class Ownership(_Strict):
    """Which actions go to the lead's existing owner (contact owner, then account owner)
    before any rule; a rule with `ignore_ownership: true` still wins, and the owner is told."""

    actions: list[RoutingAction] = Field(default_factory=lambda: list(OWNED_ACTIONS))

    @field_validator("actions")
    @classmethod
    def _not_disqualify(cls, value: list[RoutingAction]) -> list[RoutingAction]:
        if "disqualify" in value:
            raise ValueError("a disqualified lead goes to nobody; remove disqualify")
        return value


class RoutingConfig(_Strict):
    version: Literal[1] = 1
    ownership: Ownership = Field(default_factory=Ownership)
    reps: list[Rep] = Field(min_length=1)
    teams: list[Team] = Field(default_factory=list)
    queues: list[Queue] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)
    fallback: Target | None = None

    @model_validator(mode="after")
    def _references(self) -> RoutingConfig:
        reps = _unique("reps", [r.id for r in self.reps])
        teams = _unique("teams", [t.id for t in self.teams])
        queues = _unique("queues", [q.id for q in self.queues])
        _unique("rules", [r.id for r in self.rules])
        for i, team in enumerate(self.teams):
            for j, member in enumerate(team.pool):
                if member not in reps:
                    raise ValueError(f"@teams.{i}.pool.{j}: unknown rep {member!r}")
            if team.manager and team.manager not in reps:
                raise ValueError(f"@teams.{i}.manager: {team.manager!r} is not a rep")
        known = {"rep": reps, "team": teams, "queue": queues}
        targets = [(f"rules.{i}.assign", r.assign) for i, r in enumerate(self.rules)]
        if self.fallback:
            targets.append(("fallback", self.fallback))
        for where, target in targets:
            if target.id not in known[target.kind]:
                raise ValueError(f"@{where}: unknown {target.kind} {target.id!r}")
        return self

    def rep(self, rep_id: str) -> Rep:
        return next(r for r in self.reps if r.id == rep_id)

    def rep_by_email(self, email: str) -> Rep | None:
        email = email.lower()
        return next((r for r in self.reps if r.email.lower() == email), None)

    def rep_by_slack_id(self, slack_id: str | None) -> Rep | None:
        return next((r for r in self.reps if slack_id and r.slack_id == slack_id), None)

    def team(self, team_id: str) -> Team:
        return next(t for t in self.teams if t.id == team_id)

    def queue(self, queue_id: str) -> Queue:
        return next(q for q in self.queues if q.id == queue_id)

    def team_of(self, rep_id: str) -> Team | None:
        return next((t for t in self.teams if rep_id in t.pool), None)

    def calcom_event_type(self, rep_id: str, team_id: str | None = None) -> int | None:
        """The Cal.com event type a meeting with the rep is booked on: the rep's own, else
        that of the team the lead was routed through, else that of the rep's first team."""
        own = self.rep(rep_id).calcom_event_type_id
        if own is not None:
            return own
        team = next((t for t in self.teams if t.id == team_id), None) or self.team_of(rep_id)
        return team.calcom_event_type_id if team is not None else None


class Band(_Strict):
    gte: float
    points: float
    reason: str


class Points(_Strict):
    points: float
    reason: str


class IcpSegmentRule(_Strict):
    id: str
    employees: dict[str, float] = Field(default_factory=dict)


class Icp(_Strict):
    abstain_below: float = Field(default=0.5, ge=0, le=1)
    segments: list[IcpSegmentRule] = Field(default_factory=list)
    target_industries: list[str] = Field(default_factory=list)


class Fit(_Strict):
    employees: list[Band] = Field(default_factory=list)
    target_industry: Points | None = None
    seniority: dict[str, Points] = Field(default_factory=dict)
    department: dict[str, Points] = Field(default_factory=dict)
    known_account: Points | None = None
    free_email: Points | None = None


class Engagement(_Strict):
    property: str  # a key of the lead's `properties` (form or CRM engagement field)
    gte: float
    points: float
    reason: str


class IntentPoints(_Strict):
    message: dict[str, Points] = Field(default_factory=dict)
    form: dict[str, Points] = Field(default_factory=dict)
    engagement: list[Engagement] = Field(default_factory=list)


class Urgency(_Strict):
    words: list[str]
    points: float
    reason: str


class Recency(_Strict):
    within_minutes: float = Field(gt=0)
    points: float
    reason: str


class TimingPoints(_Strict):
    urgency: Urgency | None = None
    recency: list[Recency] = Field(default_factory=list)


class Prior(_Strict):
    max_points: float = Field(default=8, ge=0)
    min_similar: int = Field(default=2, ge=1)
    min_similarity: float = Field(default=0.5, ge=0, le=1)


class Actions(_Strict):
    book_at: float = Field(ge=0, le=100)
    draft_at: float = Field(ge=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> Actions:
        if self.draft_at > self.book_at:
            raise ValueError("draft_at must not be above book_at")
        return self


class Learning(_Strict):
    capture_columns: list[str] | None = None

    @field_validator("capture_columns")
    @classmethod
    def _listed_once(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("list at least one column, or leave capture_columns out")
        seen: set[str] = set()
        for name in value:
            if not name.strip():
                raise ValueError("a column name is empty")
            if name in seen:
                raise ValueError(f"{name!r} is listed twice")
            seen.add(name)
        return value


class ScoringConfig(_Strict):
    version: Literal[1] = 1
    model_version: str
    icp: Icp = Field(default_factory=Icp)
    fit: Fit = Field(default_factory=Fit)
    intent: IntentPoints = Field(default_factory=IntentPoints)
    timing: TimingPoints = Field(default_factory=TimingPoints)
    prior: Prior = Field(default_factory=Prior)
    learning: Learning = Field(default_factory=Learning)
    grades: dict[Literal["A", "B", "C"], float]
    actions: Actions

    @field_validator("grades")
    @classmethod
    def _grades(cls, value: dict[str, float]) -> dict[str, float]:
        if set(value) != {"A", "B", "C"} or not value["A"] >= value["B"] >= value["C"]:
            raise ValueError("grades needs A >= B >= C (below C is D)")
        return value

    def grade(self, total: float) -> str:
        return next((g for g in ("A", "B", "C") if total >= self.grades[g]), "D")


def parse_hours(value: str) -> tuple[time, time]:
    """Parse "HH:MM-HH:MM" into (start, end); end after start."""
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", value)
    if not match:
        raise ValueError(f"working_hours {value!r} is not HH:MM-HH:MM")
    h1, m1, h2, m2 = map(int, match.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2, m2) <= (h1, m1):
        raise ValueError(f"working_hours {value!r} is not a range within one day")
    return time(h1, m1), time(min(h2, 23), 59 if h2 == 24 else m2)


def parse_date_range(value: str) -> tuple[date, date]:
    """Parse "YYYY-MM-DD..YYYY-MM-DD" (or one day) into (start, end)."""
    start, _, end = value.partition("..")
    try:
        first, last = date.fromisoformat(start.strip()), date.fromisoformat((end or start).strip())
    except ValueError as exc:
        raise ValueError(f"out_of_office {value!r} is not YYYY-MM-DD..YYYY-MM-DD") from exc
    if last < first:
        raise ValueError(f"out_of_office {value!r} ends before it starts")
    return first, last


Kind = Literal["text", "number", "boolean"]


def field_kind(path: str) -> tuple[Kind, tuple[str, ...]] | None:
    """What a dotted path into the decision record holds: text (with its fixed values, if
    any), a number or true/false; None for a path the record does not declare (form
    properties, raw payload fields) or a field of another shape."""
    declared: Any = DecisionRecord
    for part in path.split("."):
        declared = _without_none(declared)
        if not is_typeddict(declared):
            return None
        hints = get_type_hints(declared)
        if part not in hints:
            return None
        declared = hints[part]
    declared = _without_none(declared)
    if declared is bool:
        return "boolean", ()
    if declared in (int, float):
        return "number", ()
    if declared is str:
        return "text", ()
    if get_origin(declared) is Literal and all(isinstance(v, str) for v in get_args(declared)):
        return "text", get_args(declared)
    return None


def _without_none(declared: Any) -> Any:
    """`X` for `X | None`; anything else unchanged."""
    if get_origin(declared) in (Union, types.UnionType):
        args = [arg for arg in get_args(declared) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return declared


def _kind_of(value: Any) -> Kind:
    """The kind of a value as YAML read it."""
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, int | float) else "text"


def _yaml(value: Any) -> str:
    """A condition value as it was written (`false`, `2024`, `'many'`)."""
    return str(value).lower() if isinstance(value, bool) else repr(value)


def condition_problem(path: str, condition: Any) -> str | None:
    """Why a rule condition on `path` can never mean what it says, or None.

    `exists` takes true or false and `gte`/`lte`/`gt`/`lt` a number, whatever the field; for a
    field the decision record declares, `equals`, `in` and `not_in` take values of its kind.
    """
    ops = condition if isinstance(condition, dict) else {"equals": condition}
    declared = field_kind(path)
    for op, expected in ops.items():
        if op == "exists":
            if not isinstance(expected, bool):
                return f"exists takes true or false, got {_yaml(expected)}"
            continue
        if op in COMPARISONS:
            got = _kind_of(expected)
            if got != "number":
                return f"{op}: {_yaml(expected)} is {_article(got)}; {op} takes a number"
            continue
        if op == "regex" or declared is None:
            continue
        kind, choices = declared
        for value in expected if op in ("in", "not_in") else [expected]:
            if value is None:
                continue
            if isinstance(value, list | dict):
                return f"{op} takes a single value, got {value!r}"
            got = _kind_of(value)
            if got != kind:
                quote = f' (quote it: "{_yaml(value)}")' if kind == "text" else ""
                written = f"{op}: {_yaml(value)} is {_article(got)}"
                return f"{written}; {path} is {_describe(kind)}{quote}"
            if choices and value.lower() not in {choice.lower() for choice in choices}:
                return f"{op}: {_yaml(value)} is not one of {', '.join(choices)}"
    return None


def _article(kind: Kind) -> str:
    return "text" if kind == "text" else f"a {kind}"


def _describe(kind: Kind) -> str:
    return {"text": "text", "number": "a number", "boolean": "true or false"}[kind]


def _unique(what: str, ids: list[str]) -> set[str]:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise ValueError(f"@{what}: id {item!r} is used twice")
        seen.add(item)
    return seen


class CoreSchemaLoader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2's core schema for plain scalars: booleans are only
    true/false, integers decimal (`0100` is 100), `0o` octal or `0x` hex, floats include
    `1e3`; no sexagesimal numbers and no timestamps (`09:00` and `2026-12-24` stay text).
    A key written twice in one mapping is an error rather than the last one winning."""

    yaml_implicit_resolvers: dict[Any, Any] = {}  # noqa: RUF012 (PyYAML's class-level table)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                continue
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    if text.startswith(("0o", "0x")):
        return int(text[2:], 8 if text[1] == "o" else 16)
    return int(text)


for _tag, _pattern, _first in (
    ("bool", r"true|True|TRUE|false|False|FALSE", "tTfF"),
    ("null", r"~|null|Null|NULL|", [*"~nN", ""]),
    ("int", r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+", "-+0123456789"),
    (
        "float",
        r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?"
        r"|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)",
        "-+.0123456789",
    ),
    ("merge", r"<<", "<"),
):
    CoreSchemaLoader.add_implicit_resolver(
        f"tag:yaml.org,2002:{_tag}", re.compile(f"^(?:{_pattern})$"), list(_first)
    )
CoreSchemaLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def _line_index(node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            out[(*path, key.value)] = key.start_mark.line + 1
            _line_index(value, (*path, key.value), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_index(item, (*path, i), out)


def _load(path: Path, model: type[M]) -> M:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        root = yaml.compose(text, Loader=CoreSchemaLoader)
        data = yaml.load(text, Loader=CoreSchemaLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"{mark.line + 1}:" if mark else ""
        raise ConfigError(f"{path}:{line} invalid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(data, dict) or root is None:
        raise ConfigError(f"{path}:1: expected a mapping at the top level")
    lines: dict[tuple[Any, ...], int] = {}
    _line_index(root, (), lines)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc: tuple[Any, ...] = tuple(
                p for p in err["loc"] if not (isinstance(p, str) and "[" in p)
            )
            message = str(err["msg"]).removeprefix("Value error, ")
            if message.startswith("@"):  # a cross-reference check naming its own path
                named, _, message = message[1:].partition(": ")
                extra: list[Any] = [int(s) if s.isdigit() else s for s in named.split(".")]
                loc = (*loc, *extra)
            named, _, rest = message.partition(": ")
            if rest and (*loc, named) in lines:  # a problem naming a key of the failing mapping
                loc, message = (*loc, named), rest
            lineno = next((lines[loc[:n]] for n in range(len(loc), -1, -1) if loc[:n] in lines), 1)
            where = ".".join(str(p) for p in loc) or "(top)"
            problems.append(f"{path}:{lineno}: {where}: {message}")
        raise ConfigError("\n".join(problems)) from None


def load_routing(path: Path) -> RoutingConfig:
    """Read and validate routing.yaml."""
    return _load(path, RoutingConfig)


def load_scoring(path: Path) -> ScoringConfig:
    """Read and validate scoring.yaml."""
    return _load(path, ScoringConfig)
