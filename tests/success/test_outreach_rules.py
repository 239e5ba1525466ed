"""Outreach rules (part 1): the audience of a condition tree is one SQL statement and equals the hand-picked
customers for each field; the rule service refuses bad input naming the field and changes nothing; the preview
shows who is acted on and who is skipped and why, writing nothing; the shipped plays exist, disabled."""

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule

from crm.email_templates import email_template_save
from crm.models import Contact, Customer, LedgerEntry, Task
from crm.selectors import customer_time_zones
from crm.task_services import task_create
from crm.timeline import timeline_record
from success.health.models import CustomerHealth
from success.models import UsageDaily
from success.outreach.conditions import FIELDS, rule_audience, uses_local_dates
from success.outreach.defaults import SHIPPED_PLAYS, ensure_shipped_plays
from success.outreach.definitions import outreach_rule_save
from success.outreach.models import OutreachRecord, OutreachRule
from success.outreach.preview import rule_preview
from surveys.models import Response
from surveys.services import invitation_create, survey_create
from tests.success.health_rows import put_score
from tickets.services import ticket_create

pytestmark = pytest.mark.django_db
_keys = itertools.count()


def ids(queryset):
    return set(queryset.values_list("pk", flat=True))


def ago(days):
    return timezone.now() - dt.timedelta(days=days)


@pytest.fixture
def world(customer_factory, contact_factory, user_factory):
    """Five customers with distinguishing data (names a..e)."""
    csm = user_factory(email="cleo@acme.test")
    c = {name: customer_factory(name=name) for name in "abcde"}
    Customer.objects.update(arr=Decimal(0), tier="smb", owner=None, renewal_date=None)
    Customer.objects.filter(pk=c["a"].pk).update(lifecycle_stage="onboarding", created_at=ago(40), arr=Decimal(1000))
    Customer.objects.filter(pk=c["b"].pk).update(
        lifecycle_stage="onboarding", tier="enterprise", created_at=ago(10), arr=Decimal(50000), owner=csm
    )
    Customer.objects.filter(pk=c["c"].pk).update(
        lifecycle_stage="adopting", created_at=ago(100), renewal_date=timezone.now().date() + dt.timedelta(days=30)
    )
    Customer.objects.filter(pk=c["d"].pk).update(lifecycle_stage="mature", created_at=ago(400))
    Customer.objects.filter(pk=c["e"].pk).update(lifecycle_stage="churned", created_at=ago(5))
    # a entered onboarding 35 days ago (its stage change is on the timeline); c entered adopting 5 days ago.
    timeline_record(customer=c["a"].pk, kind="customer.stage_changed", summary="→ onboarding", occurred_at=ago(35))
    timeline_record(customer=c["c"].pk, kind="customer.stage_changed", summary="→ adopting", occurred_at=ago(5))
    # touches: b 3 days ago, c 70 days ago; a, d, e never.
    timeline_record(customer=c["b"].pk, kind="note.added", summary="call", occurred_at=ago(3))
    timeline_record(customer=c["c"].pk, kind="note.added", summary="call", occurred_at=ago(70))
    timeline_record(customer=c["d"].pk, kind="customer.updated", summary="not a touch", occurred_at=ago(1))
    contacts = {name: contact_factory(customer=c[name], email=f"{name}@x.test", role="champion") for name in "abcd"}
    surveys = survey_create(name="NPS", kind="nps")
    for name, score in (("a", 3), ("b", 10), ("c", 8)):
        invitation, _ = invitation_create(survey=surveys, contact=contacts[name], trigger="api", trigger_key=f"k{name}")
        Response.objects.create(
            invitation=invitation,
            survey=surveys,
            customer=c[name],
            contact=contacts[name],
            kind="nps",
            score=score,
            answered_at=ago(2),
            updated_at=ago(2),
        )
    for name, priority in (("a", "urgent"), ("a", "normal"), ("c", "normal")):
        ticket_create(
            customer=c[name], requester=contacts[name], subject="Help", body="x", priority=priority, imported=True
        )
    task_create(customer=c["d"], reason="Risk!", type="risk")
    put_score(c["a"], day=timezone.now().date(), nps_latest=0, open_tickets=9, urgent_open_tickets=3, events_30d=0)
    put_score(c["b"], day=timezone.now().date())
    UsageDaily.objects.create(customer=c["b"], day=timezone.now().date() - dt.timedelta(days=2), events=5)
    UsageDaily.objects.create(customer=c["c"], day=timezone.now().date() - dt.timedelta(days=40), events=5)
    for customer in c.values():
        customer.refresh_from_db()
    return {"c": c, "contacts": contacts, "csm": csm}


def leaf(field, op, value):
    return {"field": field, "op": op, "value": value}


CASES = [
    (leaf("lifecycle_stage", "in", ["onboarding"]), "ab"),
    (leaf("lifecycle_stage", "not_in", ["onboarding", "churned"]), "cd"),
    (leaf("tier", "in", "enterprise"), "b"),
    (leaf("owner", "is_empty", True), "acde"),
    (leaf("arr", "gte", 1000), "ab"),
    (leaf("days_since_created", "gt", 30), "acd"),
    (leaf("days_in_stage", "gt", 30), "ad"),  # a: 35 days (timeline), b: 10 (created), c: 5, d: 400, e: 5
    (leaf("days_in_stage", "lte", 10), "bce"),
    (leaf("renewal_within_days", "lte", 45), "c"),
    (leaf("days_since_last_touch", "gt", 60), "acde"),  # never touched counts as long ago
    (leaf("days_since_last_touch", "lt", 7), "b"),
    (leaf("nps_band", "in", ["detractor"]), "a"),
    (leaf("nps_band", "in", ["promoter", "passive"]), "bc"),
    (leaf("nps_band", "in", ["none"]), "de"),
    (leaf("open_tickets", "gte", 1), "ac"),
    (leaf("urgent_open_tickets", "gte", 1), "a"),
    (leaf("sla_breaches_90d", "eq", 0), "abcde"),
    (leaf("has_open_task", "in", ["risk"]), "d"),
    (leaf("has_open_task", "not_in", ["risk"]), "abce"),
    (leaf("health_band", "in", ["none"]), "cde"),
    (leaf("days_since_last_usage", "gt", 30), "acde"),
    (leaf("days_since_last_usage", "lte", 2), "b"),
    (leaf("onboarding_progress", "lt", 50), ""),  # nobody has an active onboarding run
]


@pytest.mark.parametrize(("tree", "expected"), CASES, ids=[f"{t['field']}-{t['op']}" for t, _ in CASES])
def test_audience_of_each_field_is_the_hand_picked_set_in_one_statement(
    world, tree, expected, django_assert_num_queries
):
    c = world["c"]
    zones = customer_time_zones()
    with django_assert_num_queries(1):
        got = ids(rule_audience(tree, zones=zones))
    assert got == {c[name].pk for name in expected}
    # Without the zones given, a date-relative condition reads them first: one small query, never per customer.
    with django_assert_num_queries(2 if uses_local_dates(tree) else 1):
        assert ids(rule_audience(tree)) == got


def test_health_band_and_score(world):
    c = world["c"]
    band_a = CustomerHealth.objects.get(customer=c["a"]).band
    assert ids(rule_audience(leaf("health_band", "in", [band_a]))) >= {c["a"].pk}
    score_b = float(CustomerHealth.objects.get(customer=c["b"]).score)
    assert ids(rule_audience(leaf("health_score", "gte", score_b))) >= {c["b"].pk}
    assert c["c"].pk not in ids(rule_audience(leaf("health_score", "gte", 0)))  # never scored


def test_every_field_at_once_with_and_or_nesting_is_one_statement(world, django_assert_num_queries):
    c = world["c"]
    tree = {
        "any": [
            {"all": [leaf("lifecycle_stage", "in", ["onboarding"]), leaf("days_in_stage", "gt", 30)]},
            {"all": [leaf("tier", "in", ["enterprise"]), {"any": [leaf("nps_band", "in", ["promoter"])]}]},
        ]
    }
    with django_assert_num_queries(2):  # the time zones, then the audience
        assert ids(rule_audience(tree)) == {c["a"].pk, c["b"].pk}
    every = {
        "all": [leaf(name, f.ops[0], 0 if f.type not in ("choice", "user") else None) for name, f in FIELDS.items()]
    }
    for node in every["all"]:
        f = FIELDS[node["field"]]
        if f.type == "choice":
            node["value"] = [f.choices[0][0]]
        elif f.type == "user":
            node["value"] = [world["csm"].pk]
    Customer.objects.filter(pk=c["a"].pk).update(timezone="Pacific/Auckland")
    Customer.objects.filter(pk=c["b"].pk).update(timezone="America/Los_Angeles")
    zones = customer_time_zones()
    with django_assert_num_queries(1):
        list(rule_audience({"any": [every, {"all": every["all"][:3]}]}, zones=zones))


# --- The rule service --------------------------------------------------------------------------------------------


@pytest.fixture
def template(db):
    return email_template_save(name="Hello", subject="Hi {contact.first_name}", text_body="For {customer.name}")


def good(template, **changes):
    return {
        "name": "Stuck onboarding",
        "trigger": "schedule",
        "schedule": "0 9 * * 1-5",
        "conditions": {"all": [leaf("lifecycle_stage", "in", ["onboarding"])]},
        "actions": [
            {"action": "email", "template": template.pk, "role": "champion"},
            {"action": "task", "title": "Call"},
        ],
        "cooldown_days": 30,
    } | changes


def test_a_rule_is_saved_normalized_with_its_crontab(template):
    rule = outreach_rule_save(**good(template))
    rule.refresh_from_db()
    assert rule.enabled is False and rule.quiet_hours is True
    assert (rule.schedule.minute, rule.schedule.hour, rule.schedule.day_of_week) == ("0", "9", "1-5")
    assert rule.actions[1] == {
        "action": "task",
        "title": "Call",
        "type": "activity",
        "priority": "normal",
        "due_in_days": 3,
    }


BAD = [
    ({"actions": []}, "actions", "at least one action"),
    ({"actions": [{"action": "email", "template": 999999}]}, "actions", "actions[0].template: no email template"),
    ({"actions": [{"action": "task", "title": "x", "colour": 1}]}, "actions", "actions[0].colour"),
    ({"actions": [{"action": "fly"}]}, "actions", "actions[0].action: unknown action"),
    ({"conditions": leaf("favourite_colour", "in", ["red"])}, "conditions", "conditions.field: unknown field"),
    ({"conditions": {"all": [leaf("arr", "gt", "lots")]}}, "conditions", "conditions.all[0].value"),
    ({"conditions": leaf("tier", "in", ["gold"])}, "conditions", "gold not a choice of tier"),
    ({"schedule": "61 9 * * *"}, "schedule", "does not parse"),
    ({"schedule": "every day"}, "schedule", "five fields"),
    ({"schedule": None}, "schedule", "needs a crontab"),
    ({"cooldown_days": -1}, "cooldown_days", "0 or more"),
    ({"cap_per_run": 0}, "cap_per_run", "At least 1"),
    ({"trigger": "event", "event": ""}, "event", "needs an event"),
    ({"trigger": "event", "event": "no_usage_days", "event_params": {}}, "event_params", "days: required"),
]


@pytest.mark.parametrize(("changes", "field", "message"), BAD, ids=[f"{f}-{i}" for i, (_c, f, _m) in enumerate(BAD)])
def test_bad_input_names_the_field_and_changes_nothing(template, changes, field, message):
    rules, crontabs = OutreachRule.objects.count(), CrontabSchedule.objects.count()
    with pytest.raises(ValidationError) as caught:
        outreach_rule_save(**good(template, **changes))
    assert field in caught.value.message_dict
    assert any(message in m for m in caught.value.message_dict[field]), caught.value.message_dict
    assert (OutreachRule.objects.count(), CrontabSchedule.objects.count()) == (rules, crontabs)


def test_a_template_with_an_unknown_variable_cannot_be_used(template):
    type(template).objects.filter(pk=template.pk).update(subject="Hi {custmer.name}")  # saved before a rename
    with pytest.raises(ValidationError) as caught:
        outreach_rule_save(**good(template))
    assert "Unknown variable {custmer.name}" in caught.value.message_dict["actions"][0]


# --- The preview -------------------------------------------------------------------------------------------------


def counts():
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


def test_preview_lists_actions_and_skips_with_reasons_changing_nothing(world, template, contact_factory):
    c, contacts = world["c"], world["contacts"]
    unsubscribed = contact_factory(customer=c["b"], email="gone@x.test", role="champion")
    Contact.objects.filter(pk=unsubscribed.pk).update(unsubscribed_at=timezone.now())
    LedgerEntry.objects.create(contact=contacts["a"], kind="outreach", outcome="sent", created_at=ago(1))
    rule = outreach_rule_save(
        **good(template, conditions={"all": [leaf("lifecycle_stage", "not_in", ["churned"])]}, cap_per_run=2)
    )
    OutreachRecord.objects.create(
        rule=rule, customer=c["c"], action_index=1, action_type="task", period_key="x", result="sent", created_at=ago(3)
    )
    before = counts()
    with CaptureQueriesContext(connection) as queries:
        preview = rule_preview(rule)
    assert counts() == before  # no row in any table changed (no email, no task, no ledger entry, no record)
    # The audience and its counts, the contacts, the templates, the ledger's history (read-only: nothing locked).
    assert len(queries) == 5 and not any("FOR UPDATE" in q["sql"] for q in queries.captured_queries)
    rows = {row["name"]: row for row in preview["customers"]}
    assert [row["name"] for row in preview["customers"]] == ["a", "b", "c", "d"]
    assert rows["c"]["skipped"] == "cooldown" and rows["d"]["skipped"] == "cap"
    email_a, task_a = rows["a"]["actions"]
    assert email_a["recipients"] == [] and email_a["skipped_contacts"][0]["reason"] == "fatigued"
    email_b = rows["b"]["actions"][0]
    assert email_b["recipients"] == [
        {"contact": contacts["b"].pk, "email": "b@x.test", "subject": f"Hi {contacts['b'].first_name or 'there'}"}
    ]
    assert [(s["email"], s["reason"]) for s in email_b["skipped_contacts"]] == [("gone@x.test", "unsubscribed")]
    assert "Call" in task_a["summary"]
    totals = preview["totals"]
    assert (totals["matching"], totals["in_cooldown"], totals["acting"], totals["emails"], totals["tasks"]) == (
        4,
        1,
        2,
        1,
        2,
    )
    assert totals["skipped"] == {"cooldown": 1, "cap": 1}
    assert totals["contacts_skipped"] == {"fatigued": 1, "unsubscribed": 1}


# --- Shipped plays -----------------------------------------------------------------------------------------------


def test_shipped_plays_exist_disabled_valid_and_ensure_is_idempotent():
    rules = OutreachRule.objects.exclude(shipped_key=None)
    assert {r.shipped_key for r in rules} == {p["shipped_key"] for p in SHIPPED_PLAYS}
    assert not any(r.enabled for r in rules)
    for rule in rules:
        saved = outreach_rule_save(rule=rule, enabled=True)  # each one passes the service's validation
        assert saved.enabled
    assert ensure_shipped_plays() == 0
    assert OutreachRule.objects.exclude(shipped_key=None).count() == len(SHIPPED_PLAYS)
    onboarding = OutreachRule.objects.get(shipped_key="onboarding-not-finished-30-days")
    assert [a["action"] for a in onboarding.actions] == ["email", "email", "task"]
    assert Task.objects.count() == 0
