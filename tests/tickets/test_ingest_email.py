import mailbox
import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from crm.services import contact_create, customer_create
from tickets.models import InboundEmail, Ticket

MIME = Path(__file__).parent / "mime"


@pytest.fixture
def globex(db):
    customer = customer_create(name="Globex", domain="globex.example")
    contact_create(customer=customer, email="ana@globex.example")
    return customer


def run(*args):
    out = StringIO()
    call_command("ingest_email", *args, stdout=out)
    return out.getvalue().strip()


@pytest.mark.django_db
def test_eml_files_mbox_and_maildir(globex, tmp_path):
    assert run(str(MIME / "gmail_multipart.eml"), str(MIME / "auto_reply.eml")) == "1 ignored, 1 processed"
    box = mailbox.mbox(tmp_path / "archive.mbox")
    box.add((MIME / "outlook_html_only_latin1.eml").read_bytes())
    box.add((MIME / "bounce.eml").read_bytes())
    box.flush()
    assert run(str(tmp_path / "archive.mbox")) == "1 ignored, 1 processed"
    maildir = mailbox.Maildir(tmp_path / "Maildir")
    maildir.add((MIME / "shift_jis.eml").read_bytes().replace(b"tanaka@", b"ana@"))
    assert run(str(tmp_path / "Maildir")) == "1 processed"
    assert Ticket.objects.count() == 3 and InboundEmail.objects.count() == 5


@pytest.mark.django_db
def test_retry_failed_and_bad_paths(globex, tmp_path):
    bad = tmp_path / "bad.eml"
    bad.write_bytes(b"\x00garbage")
    assert run(str(bad)) == "1 failed"
    InboundEmail.objects.update(raw=(MIME / "gmail_multipart.eml").read_bytes())
    assert run("--retry-failed") == "1 retried processed"
    with pytest.raises(CommandError, match="No such file"):
        run(str(tmp_path / "missing.eml"))
    shutil.rmtree(tmp_path / "x", ignore_errors=True)
    (tmp_path / "x").mkdir()
    with pytest.raises(CommandError, match="not a Maildir"):
        run(str(tmp_path / "x"))
