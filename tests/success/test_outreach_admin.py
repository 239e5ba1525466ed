"""Outreach rules in the admin: the editor saves through the service (an error names the field on the form and
nothing is saved), the preview page shows what the rule would do, CSMs see rules but cannot change them."""

import json

import pytest

from crm.email_templates import email_template_save
from success.outreach.models import OutreachRule

pytestmark = pytest.mark.django_db

ADD = "/admin/success/outreachrule/add/"


def form(template, **fields):
    return {
        "name": "Stuck onboarding",
        "description": "",
        "trigger": "schedule",
        "crontab": "0 9 * * 1-5",
        "event": "",
        "event_params": "{}",
        "conditions": json.dumps({"all": [{"field": "lifecycle_stage", "op": "in", "value": ["onboarding"]}]}),
        "actions": json.dumps([{"action": "email", "template": template.pk, "role": "champion"}]),
        "cooldown_days": "30",
        "cap_per_run": "",
        "quiet_hours": "on",
        **fields,
    }


@pytest.fixture
def template(db):
    return email_template_save(name="Hello", subject="Hi {contact.first_name}", text_body="For {customer.name}")


def test_the_editor_saves_through_the_service(admin_client, template):
    response = admin_client.post(ADD, form(template))
    assert response.status_code == 302, response.context["adminform"].form.errors
    rule = OutreachRule.objects.get(name="Stuck onboarding")
    assert rule.schedule.hour == "9" and rule.actions[0]["template"] == template.pk and not rule.enabled


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"actions": "[]"}, "actions", "at least one action"),
        ({"crontab": "0 9 * * 9"}, "crontab", "does not parse"),
        ({"conditions": '{"field": "colour", "op": "in", "value": ["red"]}'}, "conditions", "unknown field"),
        ({"cooldown_days": "-1"}, "cooldown_days", "0 or more"),
        ({"cap_per_run": "0"}, "cap_per_run", "At least 1"),
    ],
)
def test_an_error_names_the_field_and_nothing_is_saved(admin_client, template, fields, field, message):
    before = OutreachRule.objects.count()
    response = admin_client.post(ADD, form(template, **fields))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    where = "schedule" if field == "crontab" else field
    flat = " ".join(errors.get(field, []) + errors.get(where, []) + errors.get("__all__", []))
    assert message in flat, errors
    assert OutreachRule.objects.count() == before


def test_preview_page_and_csm_read_only(admin_client, make_staff, client, template, customer_factory):
    customer_factory(name="Acme Onboarding", lifecycle_stage="onboarding")
    rule = OutreachRule.objects.get(shipped_key="onboarding-not-finished-30-days")
    page = admin_client.get(f"/admin/success/outreachrule/{rule.pk}/preview/")
    assert page.status_code == 200 and b"This rule is disabled" in page.content
    assert b"Customers matching the conditions: 0" in page.content  # created today: not 30 days in the stage
    csm = make_staff("csm", is_staff=True)
    client.force_login(csm)
    assert client.get("/admin/success/outreachrule/").status_code == 200
    assert client.get(ADD).status_code == 403
    assert client.get(f"/admin/success/outreachrule/{rule.pk}/preview/").status_code == 200
    # The read-only rule page shows the schedule a CSM cannot edit (the crontab text, read in local time).
    view = client.get(f"/admin/success/outreachrule/{rule.pk}/change/")
    assert view.status_code == 200
    assert b"0 9 * * 1-5 (in each customer&#x27;s local time)" in view.content
