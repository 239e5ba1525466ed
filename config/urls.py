from django.conf import settings
from django.contrib import admin
from django.http import HttpResponsePermanentRedirect, JsonResponse
from django.urls import include, is_valid_path, path, re_path
from django.views import defaults
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.views import my_time_zone
from config.health import healthz
from success.health.admin_validation import health_model_validation_view


def task_admin_moved(request, rest):
    """CSM tasks moved from the success app to crm: old admin links (/admin/success/task/...) land on the same
    page under /admin/crm/task/..., query string included."""
    url = request.path.replace("/admin/success/task/", "/admin/crm/task/", 1)
    query = request.META.get("QUERY_STRING", "")
    return HttpResponsePermanentRedirect(url + (f"?{query}" if query else ""))


urlpatterns = [
    path("healthz/", healthz, name="healthz"),
    path("accounts/", include("allauth.urls")),
    path("admin/my-time-zone/", my_time_zone, name="my_time_zone"),
    re_path(r"^admin/success/task/(?P<rest>.*)$", task_admin_moved),
    path(
        "admin/success/healthmodel/<int:model_id>/validation/",
        admin.site.admin_view(health_model_validation_view),
        name="health_model_validation",
    ),
    path("admin/", admin.site.urls),
    path("s/", include("surveys.urls")),
    path("u/", include("crm.urls")),
    path("tickets/", include("tickets.urls")),
    path("api/v1/", include("config.api_router")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]

if settings.ANYMAIL.get("WEBHOOK_SECRET"):
    urlpatterns.append(path("anymail/", include("anymail.urls")))


def page_not_found(request, exception):
    """404 for a path no route matches: JSON `{"detail": ...}` under /api/ (as DRF answers for unknown ids),
    e.g. /api/v1/customers/abc/ or a misspelt endpoint; Django's page elsewhere. (With DEBUG on, Django shows its
    technical 404 page instead.)"""
    path_info = request.path_info
    if path_info.startswith("/api/"):
        if not path_info.endswith("/") and is_valid_path(f"{path_info}/", getattr(request, "urlconf", None)):
            # A write to a URL missing its trailing slash (never redirected: config.middleware.CommonMiddleware).
            detail = f"Not found. API URLs end with a slash: {request.method} {request.path}/"
            return JsonResponse({"detail": detail}, status=404)
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


handler404 = page_not_found
