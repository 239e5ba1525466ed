"""The customer admin: fast changelist, search, filters, writes through the services, roles, history."""

import datetime
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm.admin_changelist import EstimatedCountPaginator
from crm.models import Contact, Customer, Note, TimelineEvent
from crm.services import contact_create, customer_create, customer_update, note_create
from tests.factories import ContactFactory, CustomerFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:crm_customer_changelist")
ADD = reverse("admin:crm_customer_add")


def change_url(customer):
    return reverse("admin:crm_customer_change", args=[customer.pk])


def _value(bound_field):
    value = bound_field.value()
    if value is None:
        return ""
    if isinstance(value, bool):
        return "on" if value else None
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return str(value)


def changeform_data(response, **overrides):
    """The POST a browser would send for the admin change/add form in `response`, with `overrides`."""
    data = {}

    def add(bound_field):
        value = _value(bound_field)
        if value is not None:
            data[bound_field.html_name] = value

    form = response.context["adminform"].form
    for name in form.fields:
        add(form[name])
    for inline in response.context.get("inline_admin_formsets", []):
        formset = inline.formset
        for name in formset.management_form.fields:
            add(formset.management_form[name])
        for inline_form in formset.forms:
            for name in inline_form.fields:
                add(inline_form[name])
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def result_pks(response):
    return [obj.pk for obj in response.context["cl"].result_list]


@pytest.fixture
def csm(client, make_staff):
    user = make_staff("csm", email="csm@example.com", full_name="Casey Csm")
    client.force_login(user)
    return user


# --- changelist --------------------------------------------------------------------------------


def _customers(count, owners):
    for i in range(count):
        customer = CustomerFactory(owner=owners[i % len(owners)])
        ContactFactory(customer=customer)


def test_changelist_query_count_is_flat(client, csm, make_staff, django_assert_max_num_queries):
    owners = [csm, make_staff("csm"), make_staff("admin")]
    client.get(CHANGELIST)  # per-process caches (content types) warm, as in production
    counts = []
    for size in (5, 60):
        _customers(size - Customer.objects.count(), owners)
        for url in (CHANGELIST, CHANGELIST + "?q=customer", CHANGELIST + "?mine=1&tier__exact=smb"):
            # 8, and on PostgreSQL one more when the table has planner statistics (the paginator asks for the row
            # estimate before counting: admin_changelist.EstimatedCountPaginator)
            with django_assert_max_num_queries(9) as captured:
                response = client.get(url)
            assert response.status_code == 200
            counts.append((url, len(captured.captured_queries)))
        assert len(result_pks(client.get(CHANGELIST))) == size
    small, large = counts[:3], counts[3:]
    assert small == large  # the same number of queries for 5 and 60 rows, per URL


def test_changelist_shows_the_columns_and_sorts_by_arr_and_renewal(client, csm):
    CustomerFactory(name="Small", arr=Decimal("100"), renewal_date=datetime.date(2026, 9, 1), owner=csm)
    CustomerFactory(name="Big", arr=Decimal("900000"), renewal_date=datetime.date(2026, 3, 1))
    response = client.get(CHANGELIST)
    content = response.content.decode()
    for header in ("Name", "Domain", "Lifecycle stage", "Tier", "Owner", "ARR (USD)", "Renewal date"):
        assert header in content
    assert "Casey Csm" in content and "USD 900,000" in content  # separators and the reporting currency
    list_display = list(response.context["cl"].list_display)
    arr_col = list_display.index("arr_reporting")
    renewal_col = list_display.index("renewal_date")
    names = lambda r: [c.name for c in r.context["cl"].result_list]  # noqa: E731
    assert names(client.get(CHANGELIST + f"?o=-{arr_col}")) == ["Big", "Small"]
    assert names(client.get(CHANGELIST + f"?o={arr_col}")) == ["Small", "Big"]
    assert names(client.get(CHANGELIST + f"?o={renewal_col}")) == ["Big", "Small"]


def test_search_by_external_id_ignores_case_and_finds_a_part(client, csm):
    wanted = CustomerFactory(name="Initech", external_id="CUS-0005001")
    CustomerFactory(name="Globex", external_id="CUS-0005002")
    for term in ("CUS-0005001", "cus-0005001", "Cus-0005001", "0005001", "5001"):
        assert result_pks(client.get(CHANGELIST, {"q": term})) == [wanted.pk], term
    assert len(result_pks(client.get(CHANGELIST, {"q": "cus-000500"}))) == 2


def test_search_by_contact_email_returns_each_customer_once(client, csm):
    acme = CustomerFactory(name="Acme")
    contact_create(customer=acme, email="jane@acme.io")
    contact_create(customer=acme, email="john@acme.io")
    other = CustomerFactory(name="Globex")
    contact_create(customer=other, email="hank@globex.com")

    assert result_pks(client.get(CHANGELIST, {"q": "acme.io"})) == [acme.pk]
    assert result_pks(client.get(CHANGELIST, {"q": "HANK@globex.com"})) == [other.pk]
    # name, domain and external id search too; words must all match
    assert result_pks(client.get(CHANGELIST, {"q": other.external_id})) == [other.pk]
    assert result_pks(client.get(CHANGELIST, {"q": "acme jane"})) == [acme.pk]
    assert result_pks(client.get(CHANGELIST, {"q": "acme hank"})) == []


def test_my_customers_filter(client, csm, make_staff):
    mine = CustomerFactory(owner=csm)
    CustomerFactory(owner=make_staff("csm"))
    CustomerFactory(owner=None)
    response = client.get(CHANGELIST, {"mine": "1"})
    assert result_pks(response) == [mine.pk]
    assert "My customers" in response.content.decode()


def test_owner_filter_lists_only_csms_and_admins(client, csm, make_staff):
    other_csm = make_staff("csm", full_name="Olive Other")
    make_staff("support_agent", full_name="Sam Support")
    make_staff("read_only", full_name="Rita Reader")
    theirs = CustomerFactory(owner=other_csm)
    unowned = CustomerFactory(owner=None)

    response = client.get(CHANGELIST)
    owner_filter = next(f for f in response.context["cl"].filter_specs if f.title == "owner")
    labels = [label for _, label in owner_filter.lookup_choices]
    assert "Olive Other" in labels and "Casey Csm" in labels and "No owner" in labels
    assert "Sam Support" not in labels and "Rita Reader" not in labels
    assert result_pks(client.get(CHANGELIST, {"owner": other_csm.pk})) == [theirs.pk]
    assert result_pks(client.get(CHANGELIST, {"owner": "none"})) == [unowned.pk]


def test_owner_is_an_autocomplete_not_a_list_of_every_user(client, csm, make_staff):
    bystanders = [make_staff("support_agent", email=f"bystander{i}@example.com") for i in range(3)]
    customer = CustomerFactory(owner=csm)
    content = client.get(change_url(customer)).content.decode()
    assert reverse("admin:autocomplete") in content
    assert "csm@example.com" in content or "Casey Csm" in content  # the selected owner only
    for user in bystanders:
        assert user.email not in content


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the planner estimate is PostgreSQL's")
def test_unfiltered_changelist_uses_the_planner_estimate_not_count(client, csm, monkeypatch):
    for _ in range(30):
        CustomerFactory()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE crm_customer")
    # A tiny test table would normally be counted exactly; pretend it is big.
    monkeypatch.setattr(EstimatedCountPaginator, "estimate_threshold", 1)

    with CaptureQueriesContext(connection) as captured:
        response = client.get(CHANGELIST)
    assert response.status_code == 200
    sql = [q["sql"] for q in captured.captured_queries]
    assert not [s for s in sql if "COUNT(" in s.upper()], sql
    assert any("reltuples" in s for s in sql)
    assert response.context["cl"].result_count == 30
    assert "about 30 customers" in response.content.decode()

    # A filtered list is counted exactly.
    with CaptureQueriesContext(connection) as captured:
        response = client.get(CHANGELIST, {"lifecycle_stage__exact": "onboarding"})
    assert any("COUNT(" in q["sql"].upper() for q in captured.captured_queries)
    assert "about" not in response.content.decode().split('class="paginator"')[1][:200]


def test_small_or_non_postgres_tables_are_counted_exactly(client, csm):
    for _ in range(3):
        CustomerFactory()
    response = client.get(CHANGELIST)
    assert response.context["cl"].result_count == 3
    assert response.context["cl"].paginator.is_estimate is False


# --- change page: writes through the services ----------------------------------------------------


def test_arr_is_labelled_with_the_reporting_currency(client, csm):
    assert settings.REPORTING_CURRENCY == "USD"
    response = client.get(ADD)
    assert response.context["adminform"].form.fields["arr"].label == "ARR (USD)"
    assert 'for="id_arr">ARR (USD):</label>' in response.content.decode()


def test_csm_edits_arr_timeline_and_history_record_it(client, csm):
    customer = customer_create(name="Acme", external_id="acme-1", arr="12000.00")
    response = client.get(change_url(customer))
    assert response.status_code == 200

    response = client.post(change_url(customer), changeform_data(response, arr="15000.50"))
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors

    customer.refresh_from_db()
    assert customer.arr == Decimal("15000.50")
    event = TimelineEvent.objects.get(customer=customer, kind="customer.updated")
    assert event.actor == csm
    assert event.payload["changes"] == {"arr": ["12000.00", "15000.50"]}
    last = customer.history.latest("history_date")
    assert last.history_user == csm

    history = client.get(reverse("admin:crm_customer_history", args=[customer.pk]))
    content = history.content.decode()
    assert history.status_code == 200
    assert "12000.00" in content and "15000.50" in content
    assert "Casey Csm" in content


def test_csm_adds_a_customer_through_customer_create(client, csm):
    response = client.get(ADD)
    data = changeform_data(
        response,
        name="Initech",
        domain="https://www.Initech.com/",
        external_id="ini-1",
        owner=str(csm.pk),
        arr="5000",
        timezone="America/New_York",
    )
    response = client.post(ADD, data)
    assert response.status_code == 302
    customer = Customer.objects.get(external_id="ini-1")
    assert customer.domain == "initech.com"  # normalised by the service
    assert customer.owner == csm
    assert TimelineEvent.objects.filter(customer=customer, kind="customer.created", actor=csm).exists()
    assert customer.history.get().history_user == csm


def test_bad_domain_and_renewal_before_start_are_form_errors(client, csm):
    customer = customer_create(name="Acme", external_id="acme-1", contract_start=datetime.date(2026, 5, 1))
    data = changeform_data(client.get(change_url(customer)), domain="not a domain!!", renewal_date="2026-04-30")
    response = client.post(change_url(customer), data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["domain"] == ['"not a domain!!" is not a domain name; enter one such as acme.com.']
    assert errors["renewal_date"] == ["The renewal date cannot be before the contract start."]
    customer.refresh_from_db()
    assert (customer.domain, customer.renewal_date) == ("", None)


def test_service_refusal_is_a_form_error_and_nothing_is_saved(client, csm, monkeypatch):
    from django.core.exceptions import ValidationError

    import crm.admin

    customer = customer_create(name="Acme", external_id="acme-1")
    form_response = client.get(change_url(customer))

    def refuse(**kwargs):
        raise ValidationError({"domain": "This domain belongs to another customer."})

    monkeypatch.setattr(crm.admin, "customer_update", refuse)
    data = changeform_data(form_response, name="Renamed", domain="other.com", **{"notes-0-body": "hello"})
    response = client.post(change_url(customer), data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["domain"] == ["This domain belongs to another customer."]
    assert "This domain belongs to another customer." in response.content.decode()
    customer.refresh_from_db()
    assert customer.name == "Acme"
    assert not Note.objects.exists()


def test_support_agent_sees_commercials_read_only_and_cannot_forge_them(client, make_staff):
    agent = make_staff("support_agent", full_name="Sam Support")
    client.force_login(agent)
    owner = make_staff("csm")
    customer = customer_create(name="Acme", external_id="acme-1", arr="12000.00", tier="smb", owner=owner)

    response = client.get(change_url(customer))
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert "arr" not in form.fields and "owner" not in form.fields and "tier" not in form.fields
    assert "name" in form.fields
    content = response.content.decode()
    assert "ARR (USD)" in content and "USD 12,000" in content  # shown read-only, with its currency

    forged = changeform_data(response, name="Acme Corp", arr="1", tier="enterprise", owner=str(agent.pk))
    response = client.post(change_url(customer), forged)
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.name == "Acme Corp"  # what they may change, changed
    assert (customer.arr, customer.tier, customer.owner) == (Decimal("12000.00"), "smb", owner)


def test_read_only_user_can_view_but_not_change(client, make_staff):
    reader = make_staff("read_only")
    client.force_login(reader)
    customer = customer_create(name="Acme", external_id="acme-1", arr="10.00")

    assert client.get(CHANGELIST).status_code == 200
    response = client.get(change_url(customer))
    assert response.status_code == 200
    assert 'name="_save"' not in response.content.decode()

    response = client.post(change_url(customer), {"name": "Hacked", "arr": "0"})
    assert response.status_code == 403
    assert client.post(ADD, {"name": "New"}).status_code == 403
    customer.refresh_from_db()
    assert customer.name == "Acme" and customer.arr == Decimal("10.00")
    assert Customer.objects.count() == 1


# --- contacts inline, notes, timeline on the change page -------------------------------------------


def test_contacts_inline_add_change_delete_go_through_the_services(client, csm):
    customer = customer_create(name="Acme", external_id="acme-1")
    keep = contact_create(customer=customer, email="keep@acme.io", is_primary=True)
    gone = contact_create(customer=customer, email="gone@acme.io")
    response = client.get(change_url(customer))
    data = changeform_data(response)
    forms = {data[f"contacts-{i}-email"]: i for i in range(2)}
    data[f"contacts-{forms['keep@acme.io']}-first_name"] = "Kim"
    data[f"contacts-{forms['gone@acme.io']}-DELETE"] = "on"
    data.update(
        {
            "contacts-TOTAL_FORMS": "3",
            "contacts-2-email": "  New.Person@ACME.io ",
            "contacts-2-role": "champion",
            "contacts-2-is_primary": "on",
            "contacts-2-customer": str(customer.pk),
        }
    )
    response = client.post(change_url(customer), data)
    assert response.status_code == 302

    new = Contact.objects.get(customer=customer, email="new.person@acme.io")  # normalised by contact_create
    keep.refresh_from_db()
    assert keep.first_name == "Kim"
    assert new.is_primary and not keep.is_primary  # the service moved "primary"
    assert not Contact.objects.filter(pk=gone.pk).exists()
    kinds = set(TimelineEvent.objects.filter(customer=customer, actor=csm).values_list("kind", flat=True))
    assert {"contact.added", "contact.updated", "contact.removed"} <= kinds
    assert new.history.get().history_user == csm


def test_contact_inline_refusal_shows_on_the_inline_form(client, csm):
    customer = customer_create(name="Acme", external_id="acme-1")
    contact_create(customer=customer, email="jane@acme.io")
    data = changeform_data(client.get(change_url(customer)), name="Acme Renamed")
    data.update(
        {
            "contacts-TOTAL_FORMS": "2",
            "contacts-1-email": "JANE@acme.io",  # the same person once normalised
            "contacts-1-role": "end_user",
            "contacts-1-customer": str(customer.pk),
        }
    )
    response = client.post(change_url(customer), data)
    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    assert "already has a contact with this email" in str(formset.errors)
    customer.refresh_from_db()
    assert customer.name == "Acme"  # the whole save rolled back
    assert Contact.objects.filter(customer=customer).count() == 1


def test_add_a_note_from_the_customer_page(client, csm):
    customer = customer_create(name="Acme", external_id="acme-1")
    note_create(customer=customer, body="Earlier note", actor=csm)
    response = client.get(change_url(customer))
    content = response.content.decode()
    assert "Earlier note" in content
    assert "Earlier note</textarea>" not in content  # existing notes are read-only

    data = changeform_data(response, **{"notes-0-body": "Called the CFO"})
    response = client.post(change_url(customer), data)
    assert response.status_code == 302
    note = Note.objects.get(body="Called the CFO")
    assert note.customer == customer and note.author == csm
    assert TimelineEvent.objects.filter(customer=customer, kind="note.added", actor=csm).exists()


def test_change_page_shows_latest_20_timeline_events_and_links_the_full_timeline(client, csm):
    from crm.timeline import timeline_record

    customer = customer_create(name="Acme", external_id="acme-1")
    base = timezone.now() + datetime.timedelta(minutes=1)  # after "customer.created"
    for i in range(25):
        timeline_record(
            customer=customer,
            kind="test.event",
            summary=f"event number {i:02d}",
            occurred_at=base + datetime.timedelta(hours=i),
        )
    content = client.get(change_url(customer)).content.decode()
    assert "event number 24" in content and "event number 05" in content
    assert "event number 04" not in content  # only the latest 20
    assert content.index("event number 24") < content.index("event number 05")  # latest first
    assert reverse("admin:crm_timelineevent_changelist") + f"?customer={customer.pk}" in content


def test_customer_autocomplete_pages_without_counting(client, csm, django_assert_max_num_queries):
    for i in range(25):
        CustomerFactory(name=f"Autocomplete {i:02d}")
    url = reverse("admin:autocomplete")
    params = {"app_label": "crm", "model_name": "contact", "field_name": "customer", "term": "autocomplete"}
    with CaptureQueriesContext(connection) as captured:
        first = client.get(url, params).json()
    assert not [q for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(first["results"]) == 20 and first["pagination"] == {"more": True}
    second = client.get(url, {**params, "page": 2}).json()
    assert [r["text"] for r in second["results"]] == [f"Autocomplete {i:02d}" for i in range(20, 25)]
    assert second["pagination"] == {"more": False}
    assert client.get(url, {**params, "page": 3}).status_code == 404


def test_reverting_to_a_history_version_goes_through_the_service(client, csm):
    customer = customer_create(name="Acme", external_id="acme-1", arr="100.00")
    first_version = customer.history.get()
    customer_update(customer=customer, arr="999.00", name="Acme Renamed", actor=csm)

    url = reverse("admin:crm_customer_simple_history", args=[customer.pk, first_version.history_id])
    form_page = client.get(url)
    assert form_page.status_code == 200
    response = client.post(url, changeform_data(form_page))
    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.name, customer.arr) == ("Acme", Decimal("100.00"))
    event = TimelineEvent.objects.filter(customer=customer, kind="customer.updated").latest("id")
    assert event.actor == csm and event.payload["changes"]["arr"] == ["999.00", "100.00"]
    assert customer.history.latest("history_date").history_user == csm


def _actions(changelist) -> set[str]:
    action_form = changelist.context["action_form"]
    return set() if action_form is None else {name for name, _label in action_form.fields["action"].choices}


def test_only_admins_can_delete_customers(client, csm, make_staff):
    # No timeline rows (the admin never deletes those, whoever asks): only the permission stands in the way.
    customer = CustomerFactory(name="Acme")
    ContactFactory(customer=customer)
    delete_url = reverse("admin:crm_customer_delete", args=[customer.pk])

    page = client.get(change_url(customer)).content.decode()
    assert delete_url not in page and ">Delete<" not in page
    assert "delete_selected" not in _actions(client.get(CHANGELIST))
    assert client.get(delete_url).status_code == 403
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    client.post(CHANGELIST, {"action": "delete_selected", "_selected_action": [customer.pk], "post": "yes"})
    for role in ("support_agent", "read_only"):
        client.force_login(make_staff(role))
        assert client.get(delete_url).status_code == 403
    assert Customer.objects.filter(pk=customer.pk).exists() and Contact.objects.filter(customer=customer).exists()

    client.force_login(make_staff("admin"))
    assert delete_url in client.get(change_url(customer)).content.decode()
    assert "delete_selected" in _actions(client.get(CHANGELIST))
    assert client.post(delete_url, {"post": "yes"}).status_code == 302
    assert not Customer.objects.filter(pk=customer.pk).exists()
