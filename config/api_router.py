"""Routes of REST API v1 (included at /api/v1/ by config/urls.py)."""

from rest_framework.routers import DefaultRouter

from crm.api.task_views import TaskViewSet
from crm.api.views import (
    ContactViewSet,
    CustomerByExternalIdViewSet,
    CustomerNoteViewSet,
    CustomerTimelineViewSet,
    CustomerViewSet,
)
from success.api.usage import UsageEventViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False

router.register("customers/by-external-id", CustomerByExternalIdViewSet, basename="customer-by-external-id")
router.register(r"customers/(?P<customer_id>[0-9]+)/timeline", CustomerTimelineViewSet, basename="timeline")
router.register(r"customers/(?P<customer_id>[0-9]+)/notes", CustomerNoteViewSet, basename="customer-note")
router.register("customers", CustomerViewSet, basename="customer")
router.register("contacts", ContactViewSet, basename="contact")
router.register("tasks", TaskViewSet, basename="task")
router.register("usage-events", UsageEventViewSet, basename="usage-event")

# --- revenue (success/api/revenue.py: ARR movements, retention metrics, a CSM's book) ---
from success.api.revenue import register_routes as register_revenue_routes  # noqa: E402

register_revenue_routes(router)
# --- end revenue ---

# --- health (success/api/health.py: a customer's health score and overrides, health models) ---
from success.api.health import register_routes as register_health_routes  # noqa: E402

register_health_routes(router)
# --- end health ---

# --- playbooks (success/api/playbooks.py: templates, runs, run steps) ---
from success.api.playbooks import register_routes as register_playbook_routes  # noqa: E402

register_playbook_routes(router)
# --- end playbooks ---

# --- qbrs (success/api/qbrs.py: QBRs, schedule / reschedule / cancel / hold, preparation pack) ---
from success.api.qbrs import register_routes as register_qbr_routes  # noqa: E402

register_qbr_routes(router)
# --- end qbrs ---

# --- tickets (tickets/api/urls.py: tickets, messages, status changes, SLA, metrics, calendars, SLA policies,
# inbound email) ---
from tickets.api.urls import register_routes as register_ticket_routes  # noqa: E402

register_ticket_routes(router)
# --- end tickets ---

# --- surveys (surveys/api/urls.py: surveys, sending invitations, results + CSV, responses, invitations) ---
from surveys.api.urls import register_routes as register_survey_routes  # noqa: E402

register_survey_routes(router)
# --- end surveys ---

# --- health validation (success/api/health_validation.py: GET health-models/{id}/validation/) ---
from success.api.health_validation import register_routes as register_health_validation_routes  # noqa: E402

register_health_validation_routes(router)
# --- end health validation ---

# --- outreach (success/api/outreach.py: outreach rules + preview, outreach records, email templates) ---
from success.api.outreach import register_routes as register_outreach_routes  # noqa: E402

register_outreach_routes(router)
# --- end outreach ---

from django.urls import path  # noqa: E402

from config.api_root import ApiRootView  # noqa: E402

urlpatterns = [path("", ApiRootView.as_view(), name="api-root"), *router.urls]
