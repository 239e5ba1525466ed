"""Project middleware."""

from django.middleware import common
from django.urls import is_valid_path
from django.utils import timezone

from config.health import healthz

HEALTH_PATH = "/healthz/"


class HealthCheckMiddleware:
    """Answers /healthz/ before any other middleware. A load balancer probes by the instance's IP address, a Host
    that is not in ALLOWED_HOSTS: CommonMiddleware's host check would answer 400 (DisallowedHost) and, in
    production, SecurityMiddleware could redirect to HTTPS. Only this exact path skips them; the health view
    reads no Host, session or user. Must be first in MIDDLEWARE."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info == HEALTH_PATH:
            return healthz(request)
        return self.get_response(request)


class CommonMiddleware(common.CommonMiddleware):
    """Django's, except that only GET, HEAD and OPTIONS are redirected to the URL with its trailing slash. Most
    HTTP clients follow a 301 with a GET, so `POST /api/v1/customers` would quietly become a read of the list
    (200, nothing created). Without the slash a write gets a 404 instead, whose JSON under /api/ names the URL
    to use (config.urls.page_not_found)."""

    def process_request(self, request):
        """Also: a path under /api/ that no route matches answers the API's JSON 404 here, before URL resolution,
        so it is the same with DEBUG on (`make run`), where Django would show its HTML technical 404 page."""
        response = super().process_request(request)
        if response is None and request.path_info.startswith("/api/"):
            if not is_valid_path(request.path_info, getattr(request, "urlconf", None)):
                from config.urls import page_not_found

                return page_not_found(request, None)
        return response

    def should_redirect_with_slash(self, request):
        return request.method in ("GET", "HEAD", "OPTIONS") and super().should_redirect_with_slash(request)


class TimeZoneMiddleware:
    """Pages show times in the signed-in user's time zone (accounts.User.time_zone; empty: settings.TIME_ZONE).
    The API is left alone: its date-times are ISO 8601 in UTC whoever asks."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            not request.path_info.startswith("/api/")
            and user is not None
            and user.is_authenticated
            and getattr(user, "time_zone", "")
        ):
            timezone.activate(user.zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
