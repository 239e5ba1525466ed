"""Every page we serve carries a Content-Security-Policy whose scripts are our own files or nonce'd inline ones."""

import pytest

from crm.unsubscribe import unsubscribe_url

pytestmark = pytest.mark.django_db


def script_src(response) -> list[str]:
    policy = dict(
        directive.strip().split(" ", 1) for directive in response["Content-Security-Policy"].split(";")
    )
    return policy["script-src"].split()


def test_every_kind_of_page_has_a_policy_without_unsafe_inline_scripts(client, make_staff, contact_factory):
    pages = {
        "login": client.get("/accounts/login/"),
        "api docs": client.get("/api/docs/"),
        "unsubscribe": client.get(unsubscribe_url(contact_factory())),
        "api": client.get("/api/v1/customers/"),
    }
    client.force_login(make_staff("admin", is_superuser=True))
    pages["admin"] = client.get("/admin/")
    pages["admin beat form"] = client.get("/admin/django_celery_beat/periodictask/add/")
    for name, response in pages.items():
        assert response.status_code in (200, 401, 403), name
        sources = script_src(response)
        assert "'self'" in sources and "'unsafe-inline'" not in sources and "'unsafe-eval'" not in sources, name
    # The one inline script left (django-celery-beat's form) runs by the page's nonce.
    nonce = next(s for s in script_src(pages["admin beat form"]) if s.startswith("'nonce-"))[7:-1]
    assert f'<script id="periodic-task-overrides" nonce="{nonce}">' in pages["admin beat form"].content.decode()
