"""The CSM's home (the admin's front page): today's work with one-click done, the book's panels scoped to the
signed-in user (or a lead's team), the grouped list of models with Settings for admins only, who may edit the
support desk's configuration, and a query count that does not grow with the book."""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Team
from crm.models import Task, TimelineEvent
from crm.services import contact_create, customer_create
from crm.task_services import task_create
from surveys.loop import loop_close
from surveys.services import invitation_create, invitation_dispatch, survey_answer, survey_create
from tickets.models import Ticket
from tickets.services import ticket_create

pytestmark = pytest.mark.django_db

HOME = reverse("admin:index")


def _book(owner, n: int, prefix: str = "Acct") -> list:
    today = timezone.localdate()
    customers = []
    for i in range(n):
        customer = customer_create(
            name=f"{prefix} {owner.pk}-{i}",
            owner=owner,
            arr=Decimal("1000"),
            lifecycle_stage="onboarding" if i % 2 else "adopting",
            renewal_date=today + dt.timedelta(days=20 + i),
        )
        customers.append(customer)
    return customers


def _busy_book(owner, n: int) -> list:
    """n customers, each with an open task, an escalated ticket and a detractor answer."""
    customers = _book(owner, n)
    survey = survey_create(name=f"NPS {owner.pk}", kind="nps")
    when = timezone.now() - dt.timedelta(days=2)
    for i, customer in enumerate(customers):
        contact = contact_create(customer=customer, email=f"p{owner.pk}-{i}@example.com")
        task_create(customer=customer, reason=f"Call {i}", due_date=timezone.localdate() - dt.timedelta(days=i % 3))
        ticket = ticket_create(customer=customer, requester=contact, subject=f"Broken {i}", body="Help.")
        Ticket.objects.filter(pk=ticket.pk).update(escalation_level=1)
        invitation, _ = invitation_create(
            survey=survey, contact=contact, trigger="campaign", trigger_key=f"home:{owner.pk}", scheduled_for=when
        )
        invitation = invitation_dispatch(invitation_id=invitation.pk, now=when)
        response, _ = survey_answer(invitation=invitation, score=2, comment="Slow", now=when + dt.timedelta(minutes=5))
        loop_close(response_id=response.pk)  # what the worker runs on commit: the follow-up task
    return customers


def test_todays_work_lists_my_open_tasks_overdue_first(client, make_staff):
    csm, other = make_staff("csm"), make_staff("csm")
    [acme] = _book(csm, 1)
    [theirs] = _book(other, 1, prefix="Other")
    today = timezone.localdate()
    task_create(customer=acme, reason="Send the deck", due_date=today + dt.timedelta(days=3))
    task_create(customer=acme, reason="Call the champion", due_date=today - dt.timedelta(days=2))
    task_create(customer=theirs, reason="Not mine")
    client.force_login(csm)
    page = client.get(HOME).content.decode()
    panel = page[page.index('id="home-todays-work"') :]
    assert "2 open task(s)" in panel and "1 overdue" in panel
    assert panel.index("Call the champion") < panel.index("Send the deck")
    assert '<tr class="crm-overdue">' in panel and "Not mine" not in page


def test_one_click_done_with_an_outcome(client, make_staff):
    csm = make_staff("csm")
    [acme] = _book(csm, 1)
    task, _ = task_create(customer=acme, reason="Call the champion", due_date=timezone.localdate())
    client.force_login(csm)
    url = reverse("admin:crm_task_done", args=[task.pk])
    assert client.get(url).status_code == 405
    response = client.post(url, {"outcome": "  Renewal confirmed  ", "next": HOME}, follow=True)
    assert response.redirect_chain[-1][0] == HOME
    assert "Done: “Call the champion”." in response.content.decode()
    task.refresh_from_db()
    assert task.status == Task.Status.DONE and task.outcome == "Renewal confirmed" and task.closed_at
    event = TimelineEvent.objects.get(customer=acme, kind="task.done")
    assert event.payload["outcome"] == "Renewal confirmed" and "Renewal confirmed" in event.summary
    # Again: nothing changes (idempotent), and an off-site `next` is ignored.
    response = client.post(url, {"outcome": "other", "next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == HOME
    task.refresh_from_db()
    assert task.outcome == "Renewal confirmed"
    assert TimelineEvent.objects.filter(customer=acme, kind="task.done").count() == 1


def test_done_refuses_a_long_outcome_and_a_read_only_user(client, make_staff):
    csm = make_staff("csm")
    [acme] = _book(csm, 1)
    task, _ = task_create(customer=acme, reason="Call")
    client.force_login(csm)
    page = client.post(reverse("admin:crm_task_done", args=[task.pk]), {"outcome": "x" * 1001}, follow=True)
    assert "Keep the outcome under 1,000 characters." in page.content.decode()
    task.refresh_from_db()
    assert task.status == Task.Status.OPEN and task.outcome == ""
    client.force_login(make_staff("read_only"))
    assert client.post(reverse("admin:crm_task_done", args=[task.pk])).status_code == 403
    task.refresh_from_db()
    assert task.status == Task.Status.OPEN


def test_the_book_panels_show_my_customers_only(client, make_staff):
    csm, other = make_staff("csm"), make_staff("csm")
    _busy_book(csm, 2)
    _busy_book(other, 1)
    client.force_login(csm)
    page = client.get(HOME).content.decode()
    assert "Stages: " in page and "?mine=1&amp;lifecycle_stage__exact=onboarding" in page
    assert "?mine=1&amp;renewal_within=30" in page and "30 days: 2" in page
    assert "Escalated and flagged tickets (2)" in page and "Broken 0" in page
    assert "Unhappy answers waiting for follow-up (2)" in page
    assert "NPS and CSAT by month" in page and "<svg" in page
    assert "Tickets and SLA attainment by week" in page
    assert f"Acct {other.pk}-0" not in page
    assert "without an owner" not in page  # a CSM does not hand out accounts
    # The filtered lists the links lead to.
    listing = client.get(reverse("admin:crm_customer_changelist") + "?mine=1&renewal_within=30").content.decode()
    assert f"Acct {csm.pk}-0" in listing and f"Acct {other.pk}-0" not in listing


def test_a_done_follow_up_leaves_the_unhappy_list(client, make_staff):
    csm = make_staff("csm")
    _busy_book(csm, 1)
    follow_up = Task.objects.get(owner=csm, type=Task.Type.RISK)
    client.force_login(csm)
    client.post(reverse("admin:crm_task_done", args=[follow_up.pk]), {"outcome": "Called back"})
    assert "Unhappy answers waiting for follow-up" not in client.get(HOME).content.decode()


def test_a_team_lead_sees_the_team_book_and_unowned_customers(client, make_staff):
    lead, member, outsider = make_staff("csm"), make_staff("csm"), make_staff("csm")
    team = Team.objects.create(name="East", lead=lead)
    team.members.add(member)
    _book(member, 3)
    _book(outsider, 2, prefix="Out")
    customer_create(name="Nobody's")
    client.force_login(lead)
    page = client.get(HOME).content.decode()
    assert "My team’s book" in page and '?book=team">3 customers</a>' in page
    assert "1 customer(s) without an owner" in page
    listing = client.get(reverse("admin:crm_customer_changelist") + "?book=team").content.decode()
    assert f"Acct {member.pk}-0" in listing and "Out " not in listing


def test_the_home_query_count_does_not_grow_with_the_book(client, make_staff, django_assert_max_num_queries):
    small, large = make_staff("csm"), make_staff("csm")
    _busy_book(small, 5)
    _busy_book(large, 50)
    counts = []
    for user in (small, large):
        client.force_login(user)
        client.get(HOME)  # warm per-process caches (content types, role permissions)
        with CaptureQueriesContext(connection) as queries:
            page = client.get(HOME).content.decode()
        counts.append(len(queries.captured_queries))
        assert "Escalated and flagged tickets" in page and "Unhappy answers" in page
    assert counts[0] == counts[1], counts
    with django_assert_max_num_queries(counts[0]):
        client.get(HOME)


def test_settings_only_for_admins_and_work_first(client, make_staff):
    client.force_login(make_staff("csm"))
    page = client.get(HOME).content.decode()
    assert "Customer success" in page and "Settings" not in page
    assert "Periodic tasks" not in page and "SLA policies" not in page and "Crontabs" not in page
    assert page.index("Customers</a>") < page.index("Surveys</a>")
    client.force_login(make_staff("admin", is_superuser=True))
    page = client.get(HOME).content.decode()
    settings = page[page.index(">Settings<") :]
    for name in ("SLA policies", "Business calendars", "Flag rules", "Periodic tasks", "Crontabs", "Groups"):
        assert name in settings, name


@pytest.mark.parametrize("role", ["csm", "support_agent"])
def test_csms_and_agents_cannot_edit_the_support_configuration(client, make_staff, role):
    user = make_staff(role)
    for codename in ("change_slapolicy", "add_slapolicy", "change_businesscalendar", "delete_flagrule"):
        assert not Permission.objects.filter(group__name=role, codename=codename).exists(), codename
    assert Permission.objects.filter(group__name=role, codename="view_slapolicy").exists()
    client.force_login(user)
    assert client.get(reverse("admin:tickets_slapolicy_add")).status_code == 403
    assert client.get(reverse("admin:tickets_flagrule_add")).status_code == 403
    assert client.get(reverse("admin:tickets_businesscalendar_add")).status_code == 403
    assert client.get(reverse("admin:tickets_slapolicy_changelist")).status_code == 200  # they may read it
    client.force_login(make_staff("admin", is_superuser=True))
    assert client.get(reverse("admin:tickets_slapolicy_add")).status_code == 200
