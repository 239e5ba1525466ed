"""How an invitation's email went (sent, resent, unknown, failed), on the invitation (API, admin) and counted on
its campaign (API, admin): an unknown outcome is never shown as plain "sent"."""

import pytest
from django.urls import reverse

from crm.models import OutboundEmail
from crm.services import contact_create, customer_create
from surveys.models import Campaign, Invitation
from surveys.services import invitation_create, invitation_dispatch, survey_create

pytestmark = pytest.mark.django_db
KEY = "campaign:email-state"


@pytest.fixture
def invitations(django_capture_on_commit_callbacks):
    survey = survey_create(name="Quarterly NPS", kind="nps")
    customer = customer_create(name="Acme")
    made = {}
    for state in ("sent", "resent", "unknown", "failed", "queued"):
        contact = contact_create(customer=customer, email=f"{state}@acme.example.com")
        invitation, _ = invitation_create(survey=survey, contact=contact, trigger="campaign", trigger_key=KEY)
        with django_capture_on_commit_callbacks(execute=False):
            invitation = invitation_dispatch(invitation_id=invitation.pk)
        status = {"resent": "sent"}.get(state, state)
        OutboundEmail.objects.filter(pk=invitation.email_id).update(
            status=status, resends=1 if state in ("resent", "unknown") else 0
        )
        made[state] = invitation
    campaign = Campaign.objects.create(survey=survey, trigger_key=KEY, audience={}, status="done")
    return survey, campaign, made


def test_the_invitation_api_shows_each_emails_delivery_state(
    api_client_for, invitations, django_assert_max_num_queries
):
    _, _, made = invitations
    api = api_client_for("csm")
    with django_assert_max_num_queries(8):
        rows = api.get("/api/v1/survey-invitations/", {"trigger_key": KEY}).json()["results"]
    assert {row["contact_email"].split("@")[0]: row["email_state"] for row in rows} == {
        "sent": "sent",
        "resent": "resent",
        "unknown": "unknown",
        "failed": "failed",
        "queued": "queued",
    }
    assert {row["status"] for row in rows} == {Invitation.Status.SENT}  # the invitation says sent; its email tells
    one = api.get(f"/api/v1/survey-invitations/{made['unknown'].pk}/").json()
    assert one["email_state"] == "unknown"


def test_the_campaign_counts_its_emails_by_delivery_state(api_client_for, invitations, admin_client):
    _, campaign, _ = invitations
    api = api_client_for("csm")
    body = api.get(f"/api/v1/survey-campaigns/{campaign.pk}/").json()
    assert body["status"] == "done"
    assert body["emails"] == {"sent": 1, "resent": 1, "unknown": 1, "failed": 1, "pending": 1}
    [listed] = api.get("/api/v1/survey-campaigns/").json()["results"]
    assert listed["emails"] == body["emails"]

    page = admin_client.get(reverse("admin:surveys_campaign_changelist")).content.decode()
    assert "1 sent, 1 resent, 1 unknown, 1 failed, 1 pending" in page
    page = admin_client.get(reverse("admin:surveys_invitation_changelist") + f"?trigger_key={KEY}").content.decode()
    assert "unknown" in page and "resent" in page
