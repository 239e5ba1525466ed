"""REST API of outreach: rules CRUD through the service (400 naming the field, nothing changed), the preview
(allowed to CSMs, changing nothing), records with filters and a query count flat in page size, email templates
(an unknown variable is a 400 naming the field; rendered for a real customer), and who may write."""

import pytest

from crm.email_templates import email_template_save
from crm.models import EmailTemplate
from success.outreach.definitions import outreach_rule_save
from success.outreach.models import OutreachRecord, OutreachRule

pytestmark = pytest.mark.django_db

RULES = "/api/v1/outreach-rules/"


@pytest.fixture
def template(db):
    return email_template_save(name="Hello", subject="Hi {contact.first_name}", text_body="For {customer.name}")


def body(template, **changes):
    return {
        "name": "Stuck",
        "crontab": "0 9 * * 1-5",
        "conditions": {"field": "lifecycle_stage", "op": "in", "value": ["onboarding"]},
        "actions": [{"action": "email", "template": template.pk, "role": "champion"}],
    } | changes


def test_create_read_enable_and_filter(api_client_for, template):
    admin = api_client_for("admin")
    created = admin.post(RULES, body(template), format="json")
    assert created.status_code == 201, created.json()
    rule = created.json()
    assert rule["crontab"] == "0 9 * * 1-5" and rule["enabled"] is False and rule["trigger"] == "schedule"
    assert rule["conditions"]["value"] == ["onboarding"] and rule["actions"][0]["role"] == "champion"
    changed = admin.patch(f"{RULES}{rule['id']}/", {"enabled": True}, format="json")
    assert changed.status_code == 200 and changed.json()["enabled"] is True
    enabled = api_client_for("read_only").get(RULES, {"enabled": "true"}).json()["results"]
    assert [r["name"] for r in enabled] == ["Stuck"]
    shipped = api_client_for("csm").get(RULES, {"enabled": "false", "page_size": 50}).json()["results"]
    assert len([r for r in shipped if r["shipped_key"]]) == 6


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"actions": []}, "actions"),
        ({"conditions": {"field": "nope", "op": "in", "value": ["x"]}}, "conditions"),
        ({"conditions": {"field": "arr", "op": "gt", "value": "many"}}, "conditions"),
        ({"crontab": "0 25 * * *"}, "schedule"),
        ({"cooldown_days": -3}, "cooldown_days"),
        ({"cap_per_run": 0}, "cap_per_run"),
        ({"trigger": "event"}, "event"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_nothing_changes(api_client_for, template, changes, field):
    before = OutreachRule.objects.count()
    response = api_client_for("admin").post(RULES, body(template, **changes), format="json")
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert OutreachRule.objects.count() == before


def test_csm_previews_but_cannot_write(api_client_for, template, customer_factory, contact_factory):
    customer = customer_factory(name="Acme", lifecycle_stage="onboarding")
    contact_factory(customer=customer, email="champ@acme.test", role="champion", first_name="Ann")
    rule = outreach_rule_save(**{k if k != "crontab" else "schedule": v for k, v in body(template).items()})
    csm = api_client_for("csm")
    assert csm.post(RULES, body(template, name="Other"), format="json").status_code == 403
    assert csm.patch(f"{RULES}{rule.pk}/", {"enabled": True}, format="json").status_code == 403
    before = (OutreachRecord.objects.count(), EmailTemplate.objects.count())
    preview = csm.post(f"{RULES}{rule.pk}/preview/", {}, format="json")
    assert preview.status_code == 200, preview.json()
    [row] = [r for r in preview.json()["customers"] if r["name"] == "Acme"]
    assert row["actions"][0]["recipients"] == [
        {"contact": customer.contacts.get().pk, "email": "champ@acme.test", "subject": "Hi Ann"}
    ]
    assert (OutreachRecord.objects.count(), EmailTemplate.objects.count()) == before
    assert not OutreachRule.objects.get(pk=rule.pk).enabled


def test_records_list_filters_and_flat_query_count(
    api_client_for, template, customer_factory, django_assert_max_num_queries
):
    rule = outreach_rule_save(**{k if k != "crontab" else "schedule": v for k, v in body(template).items()})
    customers = [customer_factory() for _ in range(30)]

    def add(n, result):
        for i, customer in enumerate(customers[:n]):
            OutreachRecord.objects.create(
                rule=rule,
                customer=customer,
                action_index=0,
                action_type="task",
                period_key=f"{result}{i}",
                result=result,
            )

    add(3, "sent")
    client = api_client_for("read_only")
    with django_assert_max_num_queries(8) as small:
        assert client.get("/api/v1/outreach-records/", {"page_size": 3}).status_code == 200
    add(25, "skipped")
    with django_assert_max_num_queries(len(small.captured_queries)):
        page = client.get("/api/v1/outreach-records/", {"page_size": 28}).json()["results"]
    assert len(page) == 28
    sent = client.get("/api/v1/outreach-records/", {"result": "sent", "customer": customers[0].pk}).json()["results"]
    assert [(r["customer"], r["result"], r["rule_name"]) for r in sent] == [(customers[0].pk, "sent", "Stuck")]


def test_email_templates(api_client_for, customer_factory, contact_factory, user_factory):
    admin = api_client_for("admin")
    bad = admin.post(
        "/api/v1/email-templates/", {"name": "T", "subject": "Hi {custmer.name}", "text_body": "x"}, format="json"
    )
    assert bad.status_code == 400 and "Unknown variable {custmer.name}" in bad.json()["subject"][0]
    assert not EmailTemplate.objects.filter(name="T").exists()
    assert (
        api_client_for("csm")
        .post("/api/v1/email-templates/", {"name": "T", "subject": "s", "text_body": "x"}, format="json")
        .status_code
        == 403
    )
    made = admin.post(
        "/api/v1/email-templates/",
        {"name": "T", "subject": "Hello {contact.first_name}", "text_body": "{csm.name} for {customer.name}"},
        format="json",
    )
    assert made.status_code == 201, made.json()
    customer = customer_factory(name="Globex", owner=user_factory(full_name="Cleo Manager"))
    contact_factory(customer=customer, first_name="Bo", is_primary=True)
    rendered = api_client_for("csm").post(
        f"/api/v1/email-templates/{made.json()['id']}/preview/", {"customer": customer.pk}, format="json"
    )
    assert rendered.status_code == 200, rendered.json()
    assert rendered.json()["subject"] == "Hello Bo" and rendered.json()["text"] == "Cleo Manager for Globex"
