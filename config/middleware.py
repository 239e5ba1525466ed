"""Project middleware."""

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
