"""Attachments are served only to signed-in staff allowed to see tickets, always as a download."""

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from crm.services import contact_create, customer_create
from tests.factories import UserFactory
from tickets.models import TicketAttachment
from tickets.services import ticket_create

pytestmark = pytest.mark.django_db

HTML = b"<html><script>alert(document.cookie)</script></html>"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)


def attach(filename, content_type, payload):
    customer = customer_create(name="Acme Corp")
    jane = contact_create(customer=customer, email="jane@acme.example")
    ticket = ticket_create(customer=customer, requester=jane, subject="See attached", body="Here")
    attachment = TicketAttachment(
        message=ticket.messages.get(), filename=filename, content_type=content_type, size=len(payload)
    )
    attachment.file.save("upload", ContentFile(payload), save=False)
    attachment.save()
    return attachment


def url(attachment):
    return reverse("tickets:attachment_download", args=[attachment.pk])


def body(response):
    return b"".join(response.streaming_content)


def test_staff_with_ticket_access_downloads_it_never_inline(client, make_staff):
    attachment = attach("report <x>.html", "text/html", HTML)
    client.force_login(make_staff("support_agent"))
    response = client.get(url(attachment))
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="report <x>.html"'
    assert response["Content-Type"] == "application/octet-stream"  # never rendered as HTML
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert "no-store" in response["Cache-Control"]
    assert body(response) == HTML
    # On disk under a random name, not the sender's.
    assert "report" not in attachment.file.name


def test_original_filename_and_harmless_type_are_kept(client, make_staff):
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 20
    attachment = attach("écran 1.png", "image/png", png)
    client.force_login(make_staff("read_only"))  # read-only staff may view tickets, so attachments too
    response = client.get(url(attachment))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"] == "attachment; filename*=utf-8''%C3%A9cran%201.png"
    assert body(response) == png


def test_anonymous_is_sent_to_the_login_page(client):
    attachment = attach("a.txt", "text/plain", b"secret")
    response = client.get(url(attachment))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login")) and "next=" in response["Location"]


def test_staff_without_ticket_access_and_non_staff_are_refused(client, make_staff):
    attachment = attach("a.txt", "text/plain", b"secret")
    client.force_login(UserFactory(email="norole@example.com"))  # staff, no role
    assert client.get(url(attachment)).status_code == 403
    client.force_login(make_staff("support_agent", email="former@example.com", is_staff=False))
    response = client.get(url(attachment))
    assert response.status_code == 403 and b"secret" not in response.content


def test_missing_attachment_or_file_is_404_and_only_get_is_allowed(client, make_staff):
    attachment = attach("a.txt", "text/plain", b"secret")
    client.force_login(make_staff("support_agent"))
    assert client.post(url(attachment)).status_code == 405
    assert client.get(reverse("tickets:attachment_download", args=[attachment.pk + 1000])).status_code == 404
    attachment.file.delete(save=False)
    assert client.get(url(attachment)).status_code == 404


def test_the_ticket_page_links_to_the_download(client, make_staff):
    attachment = attach("logs.txt", "text/plain", b"trace")
    client.force_login(make_staff("support_agent"))
    ticket_id = attachment.message.ticket_id
    content = client.get(reverse("admin:tickets_ticket_change", args=[ticket_id])).content.decode()
    assert f'href="{url(attachment)}"' in content and "logs.txt" in content


def _ticket_form(ticket, **overrides):
    data = {
        "subject": ticket.subject,
        "status": ticket.status,
        "priority": ticket.priority,
        "category": ticket.category,
        "tags": "",
        "assignee": "",
        "team": "",
        "reply_kind": "internal",
        "reply_body": "",
    }
    data.update(overrides)
    return data


def test_agent_attaches_files_to_a_note_from_the_ticket_page(client, make_staff, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.TICKETS_ATTACHMENT_MAX_BYTES = 100
    customer = customer_create(name="Acme Corp")
    jane = contact_create(customer=customer, email="jane@acme.example")
    ticket = ticket_create(customer=customer, requester=jane, subject="Logs", body="See logs")
    client.force_login(make_staff("support_agent"))
    url = reverse("admin:tickets_ticket_change", args=[ticket.pk])
    assert 'enctype="multipart/form-data"' in client.get(url).content.decode()

    files = [SimpleUploadedFile("trace.txt", b"x" * 10), SimpleUploadedFile("../../etc/db.log", b"y" * 20)]
    response = client.post(url, _ticket_form(ticket, reply_body="Logs from the call", reply_files=files))
    assert response.status_code == 302
    note = ticket.messages.get(public=False)
    assert sorted(a.filename for a in note.attachments.all()) == ["db.log", "trace.txt"]

    too_big = SimpleUploadedFile("dump.bin", b"z" * 101)
    response = client.post(url, _ticket_form(ticket, reply_body="Another", reply_files=[too_big]))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["reply_files"]
    assert errors == ["dump.bin is 101 bytes, over the limit of 100 bytes per file."]
    assert ticket.messages.count() == 2 and TicketAttachment.objects.count() == 2  # the note was not kept

    alone = SimpleUploadedFile("a.txt", b"a")
    response = client.post(url, _ticket_form(ticket, reply_files=[alone]))
    assert response.context["adminform"].form.errors["reply_body"] == [
        "Write a message to go with the attachments."
    ]
