from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.core.management import call_command

from accounts.roles import ROLE_NAMES, roles_sync, user_role
from crm.models import Customer, Tier
from crm.services import customer_update

pytestmark = pytest.mark.django_db

PRODUCT_APPS = {"crm", "success", "tickets", "surveys"}


def perms(role):
    return set(Group.objects.get(name=role).permissions.values_list("content_type__app_label", "codename"))


def test_the_four_role_groups_exist():
    assert set(Group.objects.filter(name__in=ROLE_NAMES).values_list("name", flat=True)) == {
        "admin",
        "csm",
        "support_agent",
        "read_only",
    }


def test_admin_has_every_permission_of_every_app():
    assert perms("admin") == set(Permission.objects.values_list("content_type__app_label", "codename"))
    assert ("django_celery_beat", "change_periodictask") in perms("admin")
    assert ("auth", "change_group") in perms("admin")


def test_read_only_has_only_view_permissions_on_our_apps_and_users():
    granted = perms("read_only")
    assert ("crm", "view_customer") in granted
    assert ("accounts", "view_user") in granted and ("accounts", "view_team") in granted
    assert all(codename.startswith("view_") for _, codename in granted)
    assert {app for app, _ in granted} <= PRODUCT_APPS | {"accounts"}
    assert ("accounts", "view_apikey") not in granted


def test_csm_has_everything_on_product_apps_including_commercials():
    granted = perms("csm")
    assert ("crm", "change_customer_commercials") in granted
    # except deleting a customer (it leaves by moving to churned; a delete cascades its timeline and contacts)
    assert ("crm", "delete_customer") not in granted
    assert {("crm", "add_customer"), ("crm", "change_customer"), ("crm", "view_customer")} <= granted
    assert ("crm", "delete_contact") in granted
    assert ("crm", "add_task") in granted
    assert ("accounts", "change_user") not in granted
    assert ("accounts", "view_user") in granted
    assert ("auth", "change_group") not in granted


def test_support_agent_permissions():
    granted = perms("support_agent")
    assert ("crm", "change_customer") in granted
    assert ("crm", "change_customer_commercials") not in granted
    assert {("crm", "add_contact"), ("crm", "change_contact"), ("crm", "add_note")} <= granted
    assert ("crm", "delete_contact") not in granted
    assert ("crm", "delete_customer") not in granted
    assert {("crm", "add_task"), ("crm", "change_task")} <= granted
    assert ("crm", "delete_task") not in granted
    ticket_perms = set(
        Permission.objects.filter(content_type__app_label="tickets").values_list("content_type__app_label", "codename")
    )
    # Everything on tickets except writing the SLA configuration (calendars, their hours and holidays, policies,
    # flag rules), which admins keep; agents still read it.
    config = {"businesscalendar", "openinghours", "holiday", "slapolicy", "flagrule"}
    config_writes = {("tickets", f"{verb}_{model}") for model in config for verb in ("add", "change", "delete")}
    assert ticket_perms - config_writes <= granted
    assert not (config_writes & granted)
    assert {("tickets", f"view_{model}") for model in config} <= granted


def test_migrate_takes_customer_delete_back_from_an_existing_csm_group():
    # A database whose csm group was synced before the rule changed: the next `migrate` removes the permission.
    Group.objects.get(name="csm").permissions.add(Permission.objects.get(codename="delete_customer"))
    call_command("migrate", verbosity=0)
    assert ("crm", "delete_customer") not in perms("csm")
    assert ("crm", "delete_customer") in perms("admin")


def test_migrate_restores_exact_sets():
    read_only = Group.objects.get(name="read_only")
    read_only.permissions.add(Permission.objects.get(codename="delete_customer"))
    read_only.permissions.remove(Permission.objects.get(codename="view_customer"))
    Group.objects.get(name="support_agent").delete()

    call_command("migrate", verbosity=0)

    assert ("crm", "delete_customer") not in perms("read_only")
    assert ("crm", "view_customer") in perms("read_only")
    assert ("crm", "change_customer") in perms("support_agent")
    before = {role: perms(role) for role in ROLE_NAMES}
    call_command("migrate", verbosity=0)
    assert {role: perms(role) for role in ROLE_NAMES} == before


def test_models_added_later_are_covered_by_app_label():
    ct = ContentType.objects.create(app_label="surveys", model="futuremodel")
    for action in ("view", "add", "change", "delete"):
        Permission.objects.create(content_type=ct, codename=f"{action}_futuremodel", name=action)
    other = ContentType.objects.create(app_label="someplugin", model="thing")
    Permission.objects.create(content_type=other, codename="view_thing", name="view")

    roles_sync()

    assert ("surveys", "view_futuremodel") in perms("read_only")
    assert ("surveys", "delete_futuremodel") not in perms("read_only")
    assert ("surveys", "delete_futuremodel") in perms("csm")
    assert ("surveys", "view_futuremodel") in perms("support_agent")
    assert ("surveys", "add_futuremodel") not in perms("support_agent")
    assert ("someplugin", "view_thing") in perms("admin")
    assert ("someplugin", "view_thing") not in perms("read_only")


def test_user_role(make_staff, user_factory):
    assert user_role(make_staff("support_agent")) == "support_agent"
    assert user_role(user_factory(is_superuser=True)) == "admin"
    assert user_role(user_factory()) is None
    both = make_staff("read_only")
    both.groups.add(Group.objects.get(name="csm"))
    assert user_role(both) == "csm"
    assert user_role(None) is None


def test_support_agent_cannot_change_arr_owner_or_tier(make_staff, customer_factory):
    agent = make_staff("support_agent")
    csm = make_staff("csm")
    customer = customer_factory(arr=Decimal("1000.00"), tier=Tier.SMB)

    for change in ({"arr": Decimal("5.00")}, {"tier": Tier.ENTERPRISE}, {"owner": agent}):
        with pytest.raises(PermissionDenied):
            customer_update(customer=customer, actor=agent, **change)
    customer.refresh_from_db()
    assert (customer.arr, customer.tier, customer.owner_id) == (Decimal("1000.00"), Tier.SMB, None)

    # ... but may change other fields, and a CSM may change commercials.
    customer_update(customer=customer, actor=agent, lifecycle_stage="adopting")
    customer_update(customer=customer, actor=csm, arr=Decimal("2000.00"), owner=csm)
    customer = Customer.objects.get(pk=customer.pk)
    assert (customer.lifecycle_stage, customer.arr, customer.owner) == ("adopting", Decimal("2000.00"), csm)
