"""Every page of the admin answers, on demo data, for every registered model: the changelist (also searched and
sorted by each column), the add page and a change page; a read-only user sees lists and objects but no add
page. A 500 anywhere in the admin fails here first."""

import html
import re
from io import StringIO

import pytest
from django.contrib import admin
from django.contrib.admin.views.main import ORDER_VAR, SEARCH_VAR
from django.core.management import call_command
from django.urls import reverse

from accounts.roles import PRODUCT_APPS
from accounts.services import api_key_create
from crm.tasks import heartbeat
from tests.shared_data import shared_rows
from tickets.inbound_email import inbound_email_process, inbound_email_receive

RAW = (
    b"From: Someone <someone@nowhere.example>\r\nTo: support@crm.example\r\nSubject: Hello there\r\n"
    b"Message-ID: <crawl-1@nowhere.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nCan you help?\r\n"
)


def _make_demo():
    call_command("seed_demo", "--customers", 30, "--tickets", 30, "--seed", 5, stdout=StringIO())
    call_command("setup_periodic_tasks", stdout=StringIO())
    api_key_create(name="Billing sync", role="csm")
    inbound_email_process(inbound=inbound_email_receive(raw=RAW))  # an unknown sender: the unmatched queue
    heartbeat.apply()


@pytest.fixture(scope="module")
def _shared_demo(django_db_setup, django_db_blocker):
    """One demo for both tests (each test's writes are undone after it; see tests/shared_data.py)."""
    yield from shared_rows(django_db_blocker, _make_demo)


@pytest.fixture
def demo(_shared_demo, db):
    return _shared_demo


def registered():
    return sorted(admin.site._registry.items(), key=lambda pair: pair[0]._meta.label)


def urls(model, name: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{name}", args=args)


def test_every_admin_page_answers_for_a_superuser(demo, admin_client):
    failures, visited = [], 0
    for model, model_admin in registered():
        changelist = urls(model, "changelist")
        pages = [changelist]
        if model_admin.search_fields:
            pages.append(f"{changelist}?{SEARCH_VAR}=example")
        pages += [f"{changelist}?{ORDER_VAR}={i}" for i in range(1, len(model_admin.list_display) + 1)]
        pages += [f"{changelist}?{ORDER_VAR}=-{i}" for i in range(1, len(model_admin.list_display) + 1)]
        if model_admin.has_add_permission(_request(admin_client)):
            pages.append(urls(model, "add"))
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            pages.append(urls(model, "change", first.pk))
            if hasattr(model_admin, "history_view"):
                pages.append(urls(model, "history", first.pk))
        # Every link the changelist offers: each filter choice, sort header, page and view.
        listed = admin_client.get(changelist)
        links = re.findall(r'href="(\?[^"#]*)"', listed.content.decode())
        pages += sorted({changelist + html.unescape(link) for link in links})
        pages = list(dict.fromkeys(pages))  # a sort header's link is often one of the sorts above: visited once
        visited += len(pages)
        for url in pages:
            status = _status(admin_client, url)
            if status != 200:
                failures.append((model._meta.label, url, status))
    assert failures == []
    print(f"{visited} admin pages")
    assert visited > 20 * len(admin.site._registry)  # the filter links were found and followed


def test_a_read_only_user_sees_every_record_of_the_product_but_no_add_page(demo, client, make_staff):
    user = make_staff("read_only")
    client.force_login(user)
    failures = []
    for model, _model_admin in registered():
        if model._meta.app_label not in PRODUCT_APPS:
            # Platform administration (users, roles, API keys, beat schedules, MFA): what the role's
            # permissions say, and nothing to add.
            can_view = user.has_perm(f"{model._meta.app_label}.view_{model._meta.model_name}")
            if (status := _status(client, urls(model, "changelist"))) != (200 if can_view else 403):
                failures.append((model._meta.label, "changelist", status))
            continue
        if (status := _status(client, urls(model, "changelist"))) != 200:
            failures.append((model._meta.label, "changelist", status))
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            page = client.get(urls(model, "change", first.pk))
            if page.status_code != 200 or b'name="_save"' in page.content:
                failures.append((model._meta.label, "change", page.status_code))
        if (status := _status(client, urls(model, "add"))) != 403:
            failures.append((model._meta.label, "add", status))
    assert failures == []


def _request(client):
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = client.session and _user(client)
    return request


def _user(client):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(pk=client.session["_auth_user_id"])


def _status(client, url: str):
    """The status code (after the redirect of a one-row settings list to its form), or the exception a view raised
    (the test client re-raises it)."""
    try:
        response = client.get(url, follow=True)
        if any("/login/" in location for location, _ in response.redirect_chain):
            return f"redirected to log in: {response.redirect_chain}"
        return response.status_code
    except Exception as error:
        return f"{type(error).__name__}: {str(error)[:120]}"
