"""`seed_demo` on an empty database: `--surveys 0` configures the demo surveys without history, a negative count is
refused, and the demo surveys name the company (tests/surveys/test_seed_surveys.py checks the seeded history, on
one demo shared by its tests)."""

import pytest
from django.core.management import CommandError

from crm.models import OutboundEmail
from surveys.models import Invitation, Survey
from tests.surveys.test_seed_surveys import seed

pytestmark = pytest.mark.django_db


def test_no_history_with_surveys_zero_and_a_negative_count_is_refused():
    output = seed("--customers", 10, "--tickets", 0, "--surveys", 0)
    assert Survey.objects.count() == 3 and not Invitation.objects.exists()
    assert "Seeded 3 surveys with 0 invitations (none)" in output
    with pytest.raises(CommandError, match="--surveys must be 0 or more"):
        seed("--customers", 10, "--surveys", -1)


def test_the_demo_surveys_name_the_company_in_the_email_and_on_the_page(client, contact_factory, settings):
    """The demo NPS (the relationship survey) and CES store "{company}" in their questions: the email's subject and
    body and the answer page show the company's name, never the placeholder."""
    from surveys import tokens
    from surveys.demo_data import demo_surveys_setup
    from surveys.services import invitation_create, invitation_dispatch

    settings.COMPANY_NAME = "Initech"
    surveys = demo_surveys_setup()
    expected = {
        "nps": "How likely are you to recommend Initech to a friend or colleague?",
        "ces": "Initech made it easy for me to get up and running.",
    }
    for kind, question in expected.items():
        invitation, _ = invitation_create(
            survey=surveys[kind], contact=contact_factory(), trigger="campaign", trigger_key="demo"
        )
        invitation = invitation_dispatch(invitation_id=invitation.pk)
        email = OutboundEmail.objects.get(pk=invitation.email_id)
        assert email.subject == question
        assert question in email.text_body and question in email.html_body
        assert "{company}" not in email.subject + email.text_body + email.html_body
        page = client.get(f"/s/{tokens.token_for(invitation.token_nonce)}/?score=2").content.decode()
        assert f'<h1 id="question">{question}</h1>' in page and "{company}" not in page
