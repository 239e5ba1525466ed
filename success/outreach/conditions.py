"""Who a rule acts on: a tree of conditions over the customer, turned into ONE SQL statement.

    {"all": [node, ...]}   every node holds          {"any": [node, ...]}   at least one node holds
    {"field": "lifecycle_stage", "op": "in", "value": ["onboarding"]}       a leaf (FIELDS below)
    {} (or null)            every customer

    FIELDS                                   the catalogue: name, label, type, ops, choices, how it becomes SQL
    validate_conditions(tree) -> tree        normalized; ValidationError({"conditions": [...]}) naming the path
    conditions_filter(tree, at, zones) -> (aliases, Q)
    rule_audience(rule_or_conditions, at=, zones=)
                                             QuerySet[Customer]: one statement (aliases + Exists/Subquery)
    uses_local_dates(tree) -> bool           the tree has a date-relative condition (needs the zones)

Types and their ops:
- choice: "in" / "not_in" with a list of the field's choices (a single string is accepted).
- number: "eq", "gt", "gte", "lt", "lte" with a number. A customer with no value (never scored, no active
  onboarding run) matches none of them.
- days: whole calendar days elapsed since a moment, counted in the CUSTOMER'S local dates: the customer's local
  date at `at` minus the local date of the moment ("gt", "gte", "lt", "lte" with a whole number >= 0), so a
  customer created at 23:30 local time is 1 day old at 00:10 local time the next day, whatever UTC says. For
  "days since the last CSM touch" and "days since last usage", a customer never touched / never active counts
  as "longer than any number of days" (it matches gt/gte, not lt/lte). Usage days are stored as dates.
- within: "lte" N: the date falls in [today, today + N days], today being the customer's local date at `at`.

Local dates, still one statement: the days and within conditions read the distinct customer time zones first
(crm.selectors.customer_time_zones, one small query; a caller that already has them passes `zones=`), then
compare each customer with the threshold of its zone, `Case(When(timezone__in=[zones], then=threshold), ...,
default=the UTC threshold)`: zones sharing a threshold share a When, and zones whose threshold is UTC's need
none (a zone not read, e.g. a customer created in between, falls back to UTC).
- user: "in" / "not_in" with a list of staff user ids; "is_empty" with true/false (no owner).

Other capabilities are read only through their selectors' expressions (crm, tickets, surveys, health, usage,
playbooks), never their tables.
"""

import datetime as dt
import functools
import operator
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db.models import Case, CharField, DateField, DateTimeField, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce
from django.db.models.lookups import GreaterThanOrEqual
from django.utils import timezone

from crm.models import Customer, LifecycleStage, Task, Tier
from crm.selectors import customer_time_zones, last_event_at_subquery, open_task_exists
from success.health.inputs import TOUCH_KINDS
from success.health.models import Band
from success.health.selectors import health_band_subquery, health_score_subquery
from success.outreach.timing import zone
from success.playbooks.selectors import onboarding_done_share_subquery, onboarding_started_subquery
from success.usage.selectors import last_usage_day_subquery
from surveys.models import Kind as SurveyKind
from surveys.selectors import latest_answer_subquery
from tickets.models import Priority
from tickets.selectors import open_ticket_count_subquery, sla_breach_count_subquery

OPS = {
    "choice": ("in", "not_in"),
    "number": ("eq", "gt", "gte", "lt", "lte"),
    "days": ("gt", "gte", "lt", "lte"),
    "within": ("lte",),
    "user": ("in", "not_in", "is_empty"),
}
OP_LABELS = {
    "in": "is one of",
    "not_in": "is none of",
    "is_empty": "is empty (true/false)",
    "eq": "=",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
}
NPS_BANDS = (("promoter", "Promoter (9-10)"), ("passive", "Passive (7-8)"), ("detractor", "Detractor (0-6)"))


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    type: str
    column: str = ""  # a Customer column, or empty: `expression` gives the value
    expression: Callable[[dt.datetime], object] | None = None
    choices: tuple[tuple[str, str], ...] = ()
    never_is_long_ago: bool = False  # days: NULL (never) matches gt / gte
    is_date: bool = False  # days: the value is a date (else a moment, read in the customer's local date)
    custom: Callable[[str, object, dt.datetime], Q] | None = None  # builds the Q itself
    help: str = ""
    ops: tuple[str, ...] = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "ops", OPS[self.type])

    @property
    def alias(self) -> str:
        return self.column or f"outreach_{self.name}"


def _since(kinds):
    return lambda at: last_event_at_subquery(kinds=kinds, before=at)


def _nps_band(at):
    score = latest_answer_subquery(kind=SurveyKind.NPS, before=at)
    return Case(
        When(GreaterThanOrEqual(score, 9), then=Value("promoter")),
        When(GreaterThanOrEqual(score, 7), then=Value("passive")),
        When(GreaterThanOrEqual(score, 0), then=Value("detractor")),
        default=Value("none"),
        output_field=CharField(),
    )


def _open_task(op: str, value, at) -> Q:
    exists = Q(open_task_exists(types=value))
    return exists if op == "in" else ~exists


def _stage_entered(at):
    return Coalesce(last_event_at_subquery(kinds=["customer.stage_changed"], before=at), "created_at")


FIELDS: dict[str, Field] = {
    f.name: f
    for f in (
        Field("lifecycle_stage", "Lifecycle stage", "choice", column="lifecycle_stage", choices=LifecycleStage.choices),
        Field("tier", "Tier", "choice", column="tier", choices=Tier.choices),
        Field("owner", "Owner CSM", "user", column="owner_id", help="Staff user ids."),
        Field("arr", "ARR", "number", column="arr"),
        Field("days_since_created", "Days since the customer was created", "days", column="created_at"),
        Field(
            "days_in_stage",
            "Days in the current lifecycle stage",
            "days",
            expression=_stage_entered,
            help="Since the last stage change on the timeline (or since created).",
        ),
        Field("renewal_within_days", "Renewal within N days", "within", column="renewal_date"),
        Field(
            "days_since_last_touch",
            "Days since the last CSM touch",
            "days",
            expression=_since(sorted(TOUCH_KINDS)),
            never_is_long_ago=True,
            help="Touches: " + ", ".join(sorted(TOUCH_KINDS)) + ". Never touched counts as long ago.",
        ),
        Field(
            "nps_band",
            "Latest NPS band",
            "choice",
            expression=_nps_band,
            choices=(*NPS_BANDS, ("none", "No NPS answer")),
        ),
        Field("open_tickets", "Open tickets", "number", expression=lambda at: open_ticket_count_subquery(at=at)),
        Field(
            "urgent_open_tickets",
            "Open urgent tickets",
            "number",
            expression=lambda at: open_ticket_count_subquery(at=at, priority=Priority.URGENT),
        ),
        Field(
            "sla_breaches_90d",
            "SLA breaches (90 days)",
            "number",
            expression=lambda at: sla_breach_count_subquery(at=at, days=90),
        ),
        Field(
            "has_open_task",
            "Has an open CSM task of type",
            "choice",
            choices=Task.Type.choices,
            custom=_open_task,
            help='"in": has an open task of one of the types; "not_in": has none.',
        ),
        Field(
            "health_band",
            "Health band",
            "choice",
            expression=lambda at: health_band_subquery(),
            choices=(*Band.choices, ("none", "Never scored")),
        ),
        Field("health_score", "Health score (0-100)", "number", expression=lambda at: health_score_subquery()),
        Field(
            "days_since_last_usage",
            "Days since last product usage",
            "days",
            expression=lambda at: last_usage_day_subquery(),
            never_is_long_ago=True,
            is_date=True,
            help="Usage days (dates) against the customer's local date. Never active counts as long ago.",
        ),
        Field(
            "onboarding_progress",
            "Onboarding progress (% of steps done)",
            "number",
            expression=lambda at: onboarding_done_share_subquery(),
            help="The active onboarding playbook run; none: no match.",
        ),
        Field(
            "onboarding_days",
            "Days since the onboarding run started",
            "days",
            expression=lambda at: onboarding_started_subquery(),
        ),
    )
}


# --- Validation ----------------------------------------------------------------------------------------------


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _leaf(node: dict, path: str, errors: list[str]) -> dict | None:
    extra = set(node) - {"field", "op", "value"}
    if extra:
        errors.append(f"{path}: unknown key(s) {', '.join(sorted(extra))}; a condition has field, op and value.")
        return None
    name = node.get("field")
    spec = FIELDS.get(name) if isinstance(name, str) else None
    if spec is None:
        errors.append(f"{path}.field: unknown field {name!r}; the fields are {', '.join(FIELDS)}.")
        return None
    op = node.get("op")
    if op not in spec.ops:
        errors.append(f"{path}.op: {op!r} is not an operator of {name}; use one of {', '.join(spec.ops)}.")
        return None
    value = node.get("value")
    if spec.type == "choice":
        values = [value] if isinstance(value, str) else value
        allowed = [key for key, _label in spec.choices]
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            errors.append(f"{path}.value: {name} needs a list of {', '.join(allowed)}.")
            return None
        wrong = [v for v in values if v not in allowed]
        if wrong:
            errors.append(f"{path}.value: {', '.join(wrong)} not a choice of {name}; use {', '.join(allowed)}.")
            return None
        value = values
    elif spec.type == "user":
        if op == "is_empty":
            if not isinstance(value, bool):
                errors.append(f"{path}.value: is_empty needs true or false.")
                return None
        else:
            values = [value] if isinstance(value, int) and not isinstance(value, bool) else value
            if (
                not isinstance(values, list)
                or not values
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in values)
            ):
                errors.append(f"{path}.value: {name} needs a list of staff user ids.")
                return None
            value = values
    elif spec.type == "number":
        if not _is_number(value):
            errors.append(f"{path}.value: {name} needs a number.")
            return None
    elif not isinstance(value, int) or isinstance(value, bool) or value < 0:  # days, within
        errors.append(f"{path}.value: {name} needs a whole number of days (0 or more).")
        return None
    return {"field": name, "op": op, "value": value}


def _node(node, path: str, errors: list[str], depth: int = 0):
    if not isinstance(node, dict):
        errors.append(f'{path}: a condition is an object ({{"all": [...]}}, {{"any": [...]}} or a field).')
        return None
    if depth > 8:
        errors.append(f"{path}: nested too deep (at most 8 levels).")
        return None
    groups = [key for key in ("all", "any") if key in node]
    if groups:
        key = groups[0]
        if len(node) != 1:
            errors.append(f'{path}: a group has exactly one key, "all" or "any".')
            return None
        children = node[key]
        if not isinstance(children, list) or not children:
            errors.append(f"{path}.{key}: a non-empty list of conditions.")
            return None
        normalized = [_node(child, f"{path}.{key}[{i}]", errors, depth + 1) for i, child in enumerate(children)]
        return {key: normalized}
    return _leaf(node, path, errors)


def validate_conditions(tree) -> dict:
    """The tree normalized (single choices become lists); {} for none. Raises ValidationError on "conditions"
    with one message per problem, each naming its path (e.g. "conditions.all[1].field: unknown field ...")."""
    if tree in (None, {}):
        return {}
    errors: list[str] = []
    normalized = _node(tree, "conditions", errors)
    if errors:
        raise ValidationError({"conditions": errors})
    return normalized


# --- SQL ---------------------------------------------------------------------------------------------------


def _fields_used(tree) -> set[str]:
    if not tree:
        return set()
    if "field" in tree:
        return {tree["field"]}
    return set().union(*(_fields_used(child) for child in next(iter(tree.values()))))


LOCAL_TYPES = ("days", "within")


def local_today(tz, at: dt.datetime) -> dt.date:
    return at.astimezone(tz).date()


def per_zone(zones: Iterable[str], value_of: Callable[[object], object], output_field):
    """One SQL expression over Customer: value_of(ZoneInfo) of each customer's time zone. Zones whose value is
    UTC's (the default) need no When; zones sharing a value share one."""
    default = value_of(zone("UTC"))
    groups: dict[object, list[str]] = defaultdict(list)
    for name in sorted(set(zones)):
        value = value_of(zone(name))
        if value != default:
            groups[value].append(name)
    if not groups:
        return Value(default, output_field=output_field)
    return Case(
        *(When(timezone__in=names, then=Value(value, output_field=output_field)) for value, names in groups.items()),
        default=Value(default, output_field=output_field),
        output_field=output_field,
    )


def _days_q(spec: Field, op: str, days: int, at: dt.datetime, zones) -> Q:
    # days elapsed > N  <=>  the moment's local date is at least N+1 days before the local date at `at`, and so on:
    # long ago (gt, gte): local date <= today - k; recent (lt, lte): local date > today - k.
    k = days + 1 if op in ("gt", "lte") else days
    long_ago = op in ("gt", "gte")
    if spec.is_date:
        threshold = per_zone(zones, lambda tz: local_today(tz, at) - dt.timedelta(days=k), DateField())
        q = Q(**{f"{spec.alias}__lte" if long_ago else f"{spec.alias}__gt": threshold})
    else:  # a moment's local date <= D  <=>  the moment is before local midnight starting D + 1
        threshold = per_zone(
            zones,
            lambda tz: dt.datetime.combine(local_today(tz, at) - dt.timedelta(days=k - 1), dt.time(), tzinfo=tz),
            DateTimeField(),
        )
        q = Q(**{f"{spec.alias}__lt" if long_ago else f"{spec.alias}__gte": threshold})
    if long_ago and spec.never_is_long_ago:
        q |= Q(**{f"{spec.alias}__isnull": True})
    return q


def _leaf_q(node: dict, at: dt.datetime, zones) -> Q:
    spec, op, value = FIELDS[node["field"]], node["op"], node["value"]
    if spec.custom is not None:
        return spec.custom(op, value, at)
    name = spec.alias
    if spec.type in ("choice", "user"):
        if op == "is_empty":
            return Q(**{f"{name}__isnull": value})
        q = Q(**{f"{name}__in": value})
        return q if op == "in" else ~q
    if spec.type == "number":
        return Q(**({name: value} if op == "eq" else {f"{name}__{op}": value}))
    if spec.type == "within":
        first = per_zone(zones, lambda tz: local_today(tz, at), DateField())
        last = per_zone(zones, lambda tz: local_today(tz, at) + dt.timedelta(days=value), DateField())
        return Q(**{f"{name}__gte": first, f"{name}__lte": last})
    return _days_q(spec, op, value, at, zones)


def _q(tree, at, zones) -> Q:
    if not tree:
        return Q()
    if "field" in tree:
        return _leaf_q(tree, at, zones)
    key, children = next(iter(tree.items()))
    parts = [_q(child, at, zones) for child in children]
    return functools.reduce(operator.and_ if key == "all" else operator.or_, parts)


def uses_local_dates(tree) -> bool:
    return any(FIELDS[name].type in LOCAL_TYPES for name in _fields_used(tree))


def conditions_filter(tree, at: dt.datetime, zones: Iterable[str] = ()) -> tuple[dict, Q]:
    """(aliases to add to a Customer queryset, the Q over them) for a validated tree; `zones`: the customers'
    time zones (date-relative conditions of customers in other zones use the UTC date)."""
    aliases = {
        FIELDS[name].alias: FIELDS[name].expression(at)
        for name in sorted(_fields_used(tree))
        if FIELDS[name].expression is not None
    }
    return aliases, _q(tree, at, list(zones))


def rule_audience(
    rule_or_conditions, *, at: dt.datetime | None = None, zones: Iterable[str] | None = None
) -> QuerySet[Customer]:
    """The customers a rule's conditions select at `at` (default now), as one statement. A date-relative
    condition reads the customers' time zones first (one small query) unless `zones` gives them."""
    tree = getattr(rule_or_conditions, "conditions", rule_or_conditions)
    tree = validate_conditions(tree)
    if zones is None:
        zones = customer_time_zones() if uses_local_dates(tree) else ()
    aliases, q = conditions_filter(tree, at or timezone.now(), zones)
    return Customer.objects.alias(**aliases).filter(q)
