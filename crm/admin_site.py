"""The admin site: Django's, with the home page's list of models grouped the way a CSM works.

First "Customer success" (customers, tasks, tickets, surveys' answers, playbook runs, QBRs), then "Surveys and
reports", then every other app of ours as Django lists it, and last "Settings" (SLA policies, business calendars,
flag rules, periodic tasks and schedules, MFA, groups, users, email templates, outreach rules, health models, ...),
which only admins see. Installed as the default site by `CrmAdminConfig` (INSTALLED_APPS), so `admin.site` is this
one and every `@admin.register` lands here. App pages (/admin/<app>/) keep Django's list.
"""

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig
from django.urls import reverse

WORK = (
    ("crm", "customer"),
    ("crm", "task"),
    ("tickets", "ticket"),
    ("crm", "contact"),
    ("crm", "note"),
    ("surveys", "response"),
    ("success", "playbookrun"),
    ("success", "qbr"),
)
REPORTS = (
    ("surveys", "survey"),
    ("surveys", "campaign"),
    ("surveys", "invitation"),
    ("success", "arrmovement"),
    ("success", "usagedaily"),
    ("success", "outreachrecord"),
    ("success", "healthoverride"),
    ("success", "playbooktemplate"),
    ("crm", "timelineevent"),
    ("crm", "outboundemail"),
    ("crm", "ledgerentry"),
)
# Configuration: these apps whole, and these models of ours.
SETTINGS_APPS = ("django_celery_beat", "mfa", "auth", "accounts", "account", "socialaccount", "sites")
SETTINGS_MODELS = {
    ("tickets", "slapolicy"),
    ("tickets", "businesscalendar"),
    ("tickets", "flagrule"),
    ("tickets", "inboundemail"),
    ("crm", "emailtemplate"),
    ("crm", "heartbeat"),
    ("success", "outreachrule"),
    ("success", "healthmodel"),
    ("success", "qbrcadence"),
    ("success", "runstep"),
    ("success", "usagedailyname"),
    ("success", "usageevent"),
}


def is_settings_model(app_label: str, model_name: str) -> bool:
    return app_label in SETTINGS_APPS or (app_label, model_name) in SETTINGS_MODELS


class CrmAdminSite(AdminSite):
    def get_app_list(self, request, app_label=None):
        if app_label is not None:
            return super().get_app_list(request, app_label)
        from accounts.roles import ADMIN, user_role

        apps = super().get_app_list(request)
        models = {(app["app_label"], m["object_name"].lower()): m for app in apps for m in app["models"]}
        index = reverse("admin:index", current_app=self.name)

        def section(name: str, label: str, keys) -> dict | None:
            shown = [models[key] for key in keys if key in models]
            if not shown:
                return None
            return {
                "name": name,
                "app_label": label,
                "app_url": f"{index}#{label}",
                "has_module_perms": True,
                "models": shown,
            }

        placed = set(WORK) | set(REPORTS)
        rest = []
        settings = []
        for app in apps:
            kept = []
            for model in app["models"]:
                key = (app["app_label"], model["object_name"].lower())
                if key in placed:
                    continue
                (settings if is_settings_model(*key) else kept).append(model)
            if kept:
                rest.append({**app, "models": kept})
        grouped = [
            section("Customer success", "work", WORK),
            section("Surveys and reports", "reports", REPORTS),
            *rest,
        ]
        if user_role(request.user) == ADMIN and settings:
            grouped.append(
                {
                    "name": "Settings",
                    "app_label": "settings",
                    "app_url": f"{index}#settings",
                    "has_module_perms": True,
                    "models": sorted(settings, key=lambda m: str(m["name"])),
                }
            )
        return [app for app in grouped if app]


class CrmAdminConfig(AdminConfig):
    default_site = "crm.admin_site.CrmAdminSite"
