"""CSV import (preview, confirm, all-or-nothing, row errors) and export of customers and contacts."""

import csv
import io
from decimal import Decimal

import pytest
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from crm.models import Contact, Customer, TimelineEvent
from crm.resources import CUSTOMER_COLUMNS
from crm.services import contact_create, customer_create

pytestmark = pytest.mark.django_db

CUSTOMER_HEADER = ",".join(CUSTOMER_COLUMNS) + "\n"


@pytest.fixture
def csm(client, make_staff):
    user = make_staff("csm", email="casey@example.com", full_name="Casey Csm")
    client.force_login(user)
    return user


def _format_index(model, name="CSV"):
    model_admin = admin.site._registry[model]
    return str([f.__name__ for f in model_admin.get_import_formats()].index(name))


def upload(client, model, text, filename="import.csv"):
    """Step 1: upload; the library runs a dry run and shows the preview (or the errors)."""
    url = reverse(f"admin:crm_{model._meta.model_name}_import")
    return client.post(
        url,
        {
            "format": _format_index(model),
            "resource": "0",
            "import_file": SimpleUploadedFile(filename, text.encode(), content_type="text/csv"),
        },
    )


def confirm(client, model, preview):
    """Step 2: confirm the previewed file."""
    form = preview.context["confirm_form"]
    data = {name: form[name].value() for name in form.fields}
    return client.post(reverse(f"admin:crm_{model._meta.model_name}_process_import"), data, follow=True)


def test_customer_import_previews_then_creates_through_the_services(client, csm):
    existing = customer_create(name="Old Name", external_id="c-1", arr="100.00")
    page = client.get(reverse("admin:crm_customer_import")).content.decode()
    assert "row 1 is the first line after the header" in page and "external_id" in page
    assert "nothing at all if any row is invalid" in page
    text = CUSTOMER_HEADER + (
        " c-1 ,New Name,old.example,adopting,smb,,100.00,,,UTC\n"
        "c-2,Brand New,https://www.brand.example/,onboarding,enterprise,Casey@Example.com,2500.50,"
        "2026-01-01,2027-01-01,Europe/Paris\n"
    )
    preview = upload(client, Customer, text)
    assert preview.status_code == 200
    result = preview.context["result"]
    assert not result.has_errors() and not result.has_validation_errors()
    assert [row.import_type for row in result.valid_rows()] == ["update", "new"]
    assert preview.context["confirm_form"] is not None
    assert "Brand New" in preview.content.decode()
    # The preview wrote nothing.
    assert not Customer.objects.filter(external_id="c-2").exists()
    existing.refresh_from_db()
    assert existing.name == "Old Name"

    response = confirm(client, Customer, preview)
    assert response.status_code == 200
    assert any("1 new, 1 updated" in str(m) for m in response.context["messages"])
    new = Customer.objects.get(external_id="c-2")
    assert (new.name, new.domain, new.owner) == ("Brand New", "brand.example", csm)
    assert new.arr == Decimal("2500.50")
    existing.refresh_from_db()
    assert (existing.name, existing.lifecycle_stage) == ("New Name", "adopting")
    # Through the services: timeline events and history by the importing user.
    assert TimelineEvent.objects.filter(customer=new, kind="customer.created", actor=csm).exists()
    assert TimelineEvent.objects.filter(customer=existing, kind="customer.stage_changed", actor=csm).exists()
    assert existing.history.latest("history_date").history_user == csm


def test_one_bad_row_imports_nothing_and_names_row_and_field(client, csm):
    text = CUSTOMER_HEADER + (
        "c-10,Good One,good.example,onboarding,smb,,10,,,UTC\n"
        "c-11,Bad Stage,bad.example,exploding,smb,,-5,,,UTC\n"
        "c-12,Good Two,good2.example,onboarding,smb,nobody@example.com,10,,,UTC\n"
    )
    response = upload(client, Customer, text)
    assert response.status_code == 200
    result = response.context["result"]
    assert result.has_validation_errors()
    invalid = {row.number: row.field_specific_errors for row in result.invalid_rows}
    assert set(invalid) == {2, 3}
    assert "lifecycle_stage" in invalid[2] and "arr" in invalid[2]
    assert "owner" in invalid[3] and "nobody@example.com" in " ".join(invalid[3]["owner"])
    assert response.context.get("confirm_form") is None  # nothing to confirm
    content = response.content.decode()
    assert "lifecycle_stage" in content and "exploding" in content
    assert not Customer.objects.exists()
    assert not TimelineEvent.objects.exists()


def test_a_non_numeric_arr_is_a_row_error_naming_the_field(client, csm):
    text = CUSTOMER_HEADER + (
        "c-30,Letters,letters.example,onboarding,smb,,abc,,,UTC\n"
        'c-31,Thousands,thousands.example,onboarding,smb,,"1,000",,,UTC\n'
        "c-32,Fine,fine.example,onboarding,smb,,1200.50,,,UTC\n"
    )
    response = upload(client, Customer, text)
    assert response.status_code == 200
    result = response.context["result"]
    assert not result.has_errors()  # no crash with a traceback, only validation errors
    invalid = {row.number: row.field_specific_errors for row in result.invalid_rows}
    assert set(invalid) == {1, 2}
    assert "Enter a number such as 1200.50" in " ".join(invalid[1]["arr"]) and "'abc'" in invalid[1]["arr"][0]
    assert "Enter a number such as 1200.50" in " ".join(invalid[2]["arr"]) and "'1,000'" in invalid[2]["arr"][0]
    content = response.content.decode()
    assert "ConversionSyntax" not in content and "Enter a number such as 1200.50" in content
    assert not Customer.objects.exists()


def test_a_row_that_becomes_invalid_before_confirm_still_means_nothing_written(client, csm, make_staff):
    leaver = make_staff("csm", email="olive@example.com")
    text = CUSTOMER_HEADER + (
        "c-20,First,first.example,onboarding,smb,,1,,,UTC\n"
        "c-21,Second,second.example,onboarding,smb,olive@example.com,1,,,UTC\n"
    )
    preview = upload(client, Customer, text)
    assert preview.context["confirm_form"] is not None
    leaver.is_active = False  # between preview and confirm, the owner leaves
    leaver.save()

    response = confirm(client, Customer, preview)
    messages = [str(m) for m in response.context["messages"]]
    assert any("nothing was written" in m and "Row 2: owner" in m for m in messages), messages
    assert not Customer.objects.exists()
    assert not TimelineEvent.objects.exists()


def test_support_agent_import_cannot_change_commercial_fields(client, make_staff):
    agent = make_staff("support_agent")
    client.force_login(agent)
    customer_create(name="Acme", external_id="c-1", arr="100.00")
    # support agents may change customers but cannot import (no add permission) ...
    assert client.get(reverse("admin:crm_customer_import")).status_code == 403

    # ... and the resource itself refuses commercial changes by such a user, naming the field.
    import tablib

    from crm.resources import CustomerResource

    dataset = tablib.Dataset(headers=["external_id", "name", "arr"])
    dataset.append(["c-1", "Acme Renamed", "999"])
    result = CustomerResource().import_data(
        dataset, dry_run=False, user=agent, rollback_on_validation_errors=True
    )
    assert result.has_validation_errors()
    assert "arr" in result.invalid_rows[0].field_specific_errors
    assert Customer.objects.get(external_id="c-1").arr == Decimal("100.00")
    assert Customer.objects.get(external_id="c-1").name == "Acme"


def test_read_only_user_cannot_import(client, make_staff):
    client.force_login(make_staff("read_only"))
    changelist = client.get(reverse("admin:crm_customer_changelist")).content.decode()
    assert reverse("admin:crm_customer_import") not in changelist
    assert reverse("admin:crm_customer_export") in changelist
    assert client.get(reverse("admin:crm_customer_import")).status_code == 403
    text = CUSTOMER_HEADER + "c-1,X,x.example,onboarding,smb,,1,,,UTC\n"
    assert upload(client, Customer, text).status_code == 403
    assert not Customer.objects.exists()


def test_contact_import_keyed_by_customer_and_email(client, csm):
    acme = customer_create(name="Acme", external_id="acme")
    contact_create(customer=acme, email="jane@acme.io", first_name="J")
    text = (
        "customer_external_id,email,first_name,last_name,role,is_primary,phone,timezone\n"
        "acme,JANE@acme.io,Jane,Doe,champion,1,,\n"
        "acme,john@acme.io,John,Roe,billing,0,,\n"
    )
    preview = upload(client, Contact, text)
    result = preview.context["result"]
    assert not result.has_validation_errors() and not result.has_errors(), result.invalid_rows
    assert [row.import_type for row in result.valid_rows()] == ["update", "new"]
    confirm(client, Contact, preview)
    jane = Contact.objects.get(customer=acme, email="jane@acme.io")
    assert (jane.first_name, jane.role, jane.is_primary) == ("Jane", "champion", True)
    assert Contact.objects.filter(customer=acme, email="john@acme.io", role="billing").exists()
    assert TimelineEvent.objects.filter(customer=acme, kind="contact.added", actor=csm).count() == 1
    assert TimelineEvent.objects.filter(customer=acme, kind="contact.updated", actor=csm).exists()


def test_contact_import_unknown_customer_is_a_row_error(client, csm):
    customer_create(name="Acme", external_id="acme")
    text = "customer_external_id,email,role\nacme,a@acme.io,champion\nnope,b@nope.io,champion\n"
    response = upload(client, Contact, text)
    result = response.context["result"]
    row = result.invalid_rows[0]
    assert row.number == 2
    assert "No customer with external id nope" in row.field_specific_errors["customer_external_id"][0]
    assert not Contact.objects.exists()


def _export(client, model, resource_name, fields, query=""):
    url = reverse(f"admin:crm_{model._meta.model_name}_export") + query
    model_admin = admin.site._registry[model]
    csv_index = str([f.__name__ for f in model_admin.get_export_formats()].index("CSV"))
    data = {"format": csv_index, "resource": "0", **{f"{resource_name}_{f}": "on" for f in fields}}
    response = client.post(url, data)
    assert response.status_code == 200, response.content[:500]
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_export_contains_rows_and_respects_the_current_filters(client, csm):
    customer_create(name="Acme", external_id="acme", owner=csm, arr="1200.00", lifecycle_stage="churned")
    customer_create(name="Globex", external_id="globex", lifecycle_stage="onboarding")

    rows = _export(client, Customer, "customerresource", CUSTOMER_COLUMNS)
    assert {r["external_id"] for r in rows} == {"acme", "globex"}
    acme = next(r for r in rows if r["external_id"] == "acme")
    assert acme["owner"] == "casey@example.com" and acme["arr"] == "1200.00"
    assert list(rows[0]) == list(CUSTOMER_COLUMNS)  # an export can be imported again

    rows = _export(client, Customer, "customerresource", CUSTOMER_COLUMNS, "?lifecycle_stage__exact=churned")
    assert [r["external_id"] for r in rows] == ["acme"]
    rows = _export(client, Customer, "customerresource", CUSTOMER_COLUMNS, "?q=globex")
    assert [r["external_id"] for r in rows] == ["globex"]


def test_contact_export(client, csm):
    acme = customer_create(name="Acme", external_id="acme")
    contact_create(customer=acme, email="jane@acme.io", role="champion")
    fields = ("customer", "email", "role")
    rows = _export(client, Contact, "contactresource", fields)
    assert rows == [{"customer_external_id": "acme", "email": "jane@acme.io", "role": "champion"}]


def test_exports_keep_formulas_as_text_in_a_spreadsheet(client, csm):
    """A cell starting with =, +, -, @, a tab or CR is a formula to Excel/LibreOffice: the exports prefix it with
    an apostrophe (as the survey responses export does), so opening the file runs nothing."""
    acme = customer_create(name='=HYPERLINK("http://evil.example","Acme")', external_id="@acme")
    contact_create(
        customer=acme, email="jane@acme.io", first_name="+Jane", last_name="-2+3", phone="\t+1 555 0100"
    )
    contact_create(customer=acme, email="bob@acme.io", first_name="Bob", last_name="Plain")

    [customer] = _export(client, Customer, "customerresource", ("external_id", "name", "domain"))
    assert customer["name"] == '\'=HYPERLINK("http://evil.example","Acme")'
    assert customer["external_id"] == "'@acme"

    fields = ("customer", "email", "first_name", "last_name", "phone")
    rows = {r["email"]: r for r in _export(client, Contact, "contactresource", fields)}
    assert rows["jane@acme.io"] == {
        "customer_external_id": "'@acme",
        "email": "jane@acme.io",
        "first_name": "'+Jane",
        "last_name": "'-2+3",
        "phone": "'\t+1 555 0100",
    }
    assert rows["bob@acme.io"]["first_name"] == "Bob" and rows["bob@acme.io"]["last_name"] == "Plain"


def test_an_import_that_churns_a_customer_needs_a_churn_reason_column(client, csm):
    from success.revenue.models import ArrMovement

    customer_create(name="Leaving", external_id="c-40", arr="1200.00")
    customer_create(name="Also leaving", external_id="c-41", arr="600.00")
    header = ",".join(CUSTOMER_COLUMNS) + ",churn_reason,churn_note\n"
    # Without a reason the row is refused, naming churn_reason, and nothing is written.
    refused = upload(client, Customer, header + "c-40,Leaving,,churned,smb,,0,,,UTC,,\n")
    invalid = {row.number: row.field_specific_errors for row in refused.context["result"].invalid_rows}
    errors = refused.context["result"].row_errors()
    shown = " ".join(str(e) for e in invalid.get(1, {}).get("churn_reason", [])) + str(errors)
    assert "churn reason" in shown.lower()
    assert Customer.objects.get(external_id="c-40").arr == Decimal("1200.00")
    text = header + (
        "c-40,Leaving,,churned,smb,,0,,,UTC,competitor,Moved to a rival\n"
        "c-41,Also leaving,,churned,smb,,0,,,UTC,price,\n"
    )
    preview = upload(client, Customer, text)
    assert not preview.context["result"].has_validation_errors() and not preview.context["result"].has_errors()
    confirm(client, Customer, preview)
    churns = {m.customer.external_id: (m.kind, m.churn_reason, m.churn_note)
              for m in ArrMovement.objects.filter(kind="churn").select_related("customer")}
    assert churns == {"c-40": ("churn", "competitor", "Moved to a rival"), "c-41": ("churn", "price", "")}
    assert Customer.objects.get(external_id="c-40").arr == 0
