"""The four staff roles and the permissions each one gets.

A role is a `Group` of the same name (created by migration 0002). What a role may do is defined here, in code,
as rules over app labels and permission codenames, and written into the group's permissions after every
`migrate` by `roles_sync_receiver` (post_migrate). Rules are expressed per app label, so models added later
(tickets, surveys) are covered automatically; `ROLE_EXCLUSIONS` takes single permissions back. The sync makes each
group's set exact: it adds what is missing and removes anything a role should not have (so a change here reaches
existing databases with the next `migrate`, no data migration needed).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.apps import apps as global_apps
from django.db import DEFAULT_DB_ALIAS

from accounts.models import Role

ADMIN = Role.ADMIN.value
CSM = Role.CSM.value
SUPPORT_AGENT = Role.SUPPORT_AGENT.value
READ_ONLY = Role.READ_ONLY.value

# Most privileged first: a user in several role groups is reported with the strongest one.
ROLE_NAMES: tuple[str, ...] = (ADMIN, CSM, SUPPORT_AGENT, READ_ONLY)

# The product's own domain apps. New apps of ours go here (and are then covered by every rule below).
PRODUCT_APPS: tuple[str, ...] = ("crm", "success", "tickets", "surveys")

DEFAULT_ACTIONS = ("view", "add", "change", "delete")


@dataclass(frozen=True)
class Grant:
    """Grants the permissions of `app` ("*" = every app) that match.

    - `models`: only these model names (lower case), default every model of the app;
    - `actions`: only the default permissions `<action>_<model>` for these actions;
    - `codenames`: these exact codenames (custom permissions such as `change_customer_commercials`).
    With neither `actions` nor `codenames`, every permission of the matched models, custom ones included.
    """

    app: str
    models: tuple[str, ...] | None = None
    actions: tuple[str, ...] | None = None
    codenames: tuple[str, ...] | None = None

    def matches(self, app_label: str, model: str, codename: str) -> bool:
        if self.app not in ("*", app_label):
            return False
        if self.models is not None and model not in self.models:
            return False
        if self.actions is None and self.codenames is None:
            return True
        if self.codenames is not None and codename in self.codenames:
            return True
        return self.actions is not None and codename in {f"{action}_{model}" for action in self.actions}


def _each(app_labels: Iterable[str], **kwargs) -> list[Grant]:
    return [Grant(app=label, **kwargs) for label in app_labels]


ROLE_RULES: dict[str, list[Grant]] = {
    # Everything, in every app (auth, django_celery_beat, allauth, ...).
    ADMIN: [Grant(app="*")],
    CSM: [
        *_each(PRODUCT_APPS),  # includes crm.change_customer_commercials (ARR, owner, tier)
        Grant(app="crm", codenames=("change_customer_commercials",)),
        Grant(app="accounts", models=("user", "team"), actions=("view",)),
    ],
    SUPPORT_AGENT: [
        *_each(PRODUCT_APPS, actions=("view",)),
        Grant(app="crm", models=("contact",), actions=("add", "change")),
        Grant(app="crm", models=("note",), actions=("add",)),
        # change_customer only: NOT change_customer_commercials, so no ARR / owner / tier changes.
        Grant(app="crm", models=("customer",), actions=("change",)),
        Grant(app="tickets"),
        Grant(app="crm", models=("task",), actions=("add", "change")),
        # To see who owns an account and pick assignees (admin autocomplete needs view on the user admin).
        Grant(app="accounts", models=("user", "team"), actions=("view",)),
    ],
    READ_ONLY: [
        *_each(PRODUCT_APPS, actions=("view",)),
        Grant(app="accounts", models=("user", "team"), actions=("view",)),
    ],
}


# Taken back from a role whatever its rules grant. A customer leaves by moving to lifecycle stage `churned`;
# deleting one would cascade its timeline, notes and contacts, so only admins may.
# Health models (how every customer is scored) are edited by admins (and team leads, in the admin): CSMs read them.
HEALTH_MODEL_WRITES = Grant(
    app="success",
    models=("healthmodel", "healthcomponent", "healthmodelversion"),
    actions=("add", "change", "delete"),
)
# Outreach rules (what the system sends to every customer on its own) and the email templates they send are
# edited by admins (and team leads, in the admin): CSMs read and preview them.
OUTREACH_WRITES = [
    Grant(app="success", models=("outreachrule",), actions=("add", "change", "delete")),
    Grant(app="crm", models=("emailtemplate",), actions=("add", "change", "delete")),
]
# How the support desk is configured (SLA targets, business hours and holidays, flag rules) is an admin's: CSMs and
# support agents read it.
SUPPORT_CONFIGURATION_WRITES = Grant(
    app="tickets",
    models=("slapolicy", "businesscalendar", "openinghours", "holiday", "flagrule"),
    actions=("add", "change", "delete"),
)
ROLE_EXCLUSIONS: dict[str, list[Grant]] = {
    CSM: [
        Grant(app="crm", models=("customer",), actions=("delete",)),
        HEALTH_MODEL_WRITES,
        *OUTREACH_WRITES,
        SUPPORT_CONFIGURATION_WRITES,
    ],
    SUPPORT_AGENT: [Grant(app="crm", models=("customer",), actions=("delete",)), SUPPORT_CONFIGURATION_WRITES],
    READ_ONLY: [Grant(app="crm", models=("customer",), actions=("delete",))],
}


def role_permission_ids(role: str, permissions: Iterable[tuple[int, str, str, str]]) -> set[int]:
    """Ids among `permissions` ((id, app_label, model, codename) rows) that `role` should have."""
    rules, exclusions = ROLE_RULES[role], ROLE_EXCLUSIONS.get(role, [])
    return {
        pk
        for pk, app_label, model, codename in permissions
        if any(rule.matches(app_label, model, codename) for rule in rules)
        and not any(rule.matches(app_label, model, codename) for rule in exclusions)
    }


def roles_sync(*, apps=global_apps, using: str = DEFAULT_DB_ALIAS, roles: Iterable[str] = ROLE_NAMES) -> None:
    """Create the role groups if missing and set each group's permissions to exactly what its rules grant."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    rows = list(
        Permission.objects.using(using).values_list("pk", "content_type__app_label", "content_type__model", "codename")
    )
    for role in roles:
        group, _ = Group.objects.using(using).get_or_create(name=role)
        wanted = role_permission_ids(role, rows)
        current = set(group.permissions.values_list("pk", flat=True))
        if current - wanted:
            group.permissions.remove(*(current - wanted))
        if wanted - current:
            group.permissions.add(*(wanted - current))
    role_permissions_forget()


def _last_app_with_models() -> str | None:
    # emit_post_migrate_signal() sends post_migrate for these app configs, in this order.
    labels = [config.label for config in global_apps.get_app_configs() if config.models_module is not None]
    return labels[-1] if labels else None


def roles_sync_receiver(sender, app_config=None, using=DEFAULT_DB_ALIAS, apps=global_apps, **kwargs):
    """post_migrate receiver (wired in AccountsConfig.ready).

    post_migrate is sent once per app, after auth's `create_permissions` for that app. We sync once, on the
    last app, when every app's permissions exist; on any other sender this does nothing.
    """
    label = getattr(app_config or sender, "label", None)
    if label != _last_app_with_models():
        return
    try:
        apps.get_model("auth", "Group")
        apps.get_model("auth", "Permission")
    except LookupError:  # auth not migrated (e.g. `migrate` to an early target)
        return
    roles_sync(apps=apps, using=using)


def role_group(role: str):
    """The Group of a role, created (with its permissions) if someone deleted it."""
    from django.contrib.auth.models import Group

    if role not in ROLE_NAMES:
        raise ValueError(f"Unknown role {role!r}.")
    group = Group.objects.filter(name=role).first()
    if group is None:
        roles_sync(roles=[role])
        group = Group.objects.get(name=role)
    return group


def user_role(user) -> str | None:
    """The user's role name (admin, csm, support_agent, read_only), or None.

    Superusers are admins. A user in several role groups gets the most privileged one. Uses
    `user.groups.all()`, so a `prefetch_related("groups")` makes it query-free in lists.
    """
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    if user.is_superuser:
        return ADMIN
    names = {group.name for group in user.groups.all()}
    for role in ROLE_NAMES:
        if role in names:
            return role
    return None


ROLE_PERMISSIONS_TTL = 60  # seconds; roles change only with migrations or an admin's edit of the group


def role_permissions(role: str) -> set[str]:
    """The "app_label.codename" permissions of a role's group, cached per process for a minute: an API request
    then checks permissions without the two permission queries Django would make for a fresh user object."""
    from django.contrib.auth.models import Permission
    from django.core.cache import caches

    cache = caches["local"]
    key = f"accounts:role-permissions:{role}"
    perms = cache.get(key)
    if perms is None:
        perms = {
            f"{app}.{codename}"
            for app, codename in Permission.objects.filter(group__name=role).values_list(
                "content_type__app_label", "codename"
            )
        }
        cache.set(key, perms, ROLE_PERMISSIONS_TTL)
    return set(perms)


def role_permissions_forget() -> None:
    from django.core.cache import caches

    caches["local"].delete_many([f"accounts:role-permissions:{role}" for role in ROLE_NAMES])


def role_users(role: str):
    """Active staff users whose role (their most privileged role group, as `user_role` says) is `role`: service
    accounts and superusers excluded (a superuser is an admin)."""
    from django.contrib.auth import get_user_model

    if role not in ROLE_NAMES:
        raise ValueError(f"Unknown role {role!r}.")
    stronger = ROLE_NAMES[: ROLE_NAMES.index(role)]
    users = get_user_model().objects.filter(groups__name=role, is_active=True, is_staff=True, is_service_account=False)
    if role != ADMIN:
        users = users.filter(is_superuser=False).exclude(groups__name__in=stronger)
    return users  # one row per user: the filter joins the one group of that name
