"""GET /api/v1/: the map of the API, for an integrator exploring it with curl before holding a key.

Public like the schema (/api/schema/) it summarises: it names routes and how to authenticate, never data. Every
entry point below it still requires an API key or a session. Left out of the schema on purpose (as are the schema
and docs pages): it is discovery, not an operation of the API."""

import re

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")


def entry_points(patterns) -> dict[str, str]:
    """{route name: path template} of the router's URL patterns, e.g. "customer-detail": "customers/{id}/"
    (the names of the OpenAPI schema's path parameters; format-suffix variants left out)."""
    found: dict[str, str] = {}
    for pattern in patterns:
        regex = pattern.pattern.regex.pattern
        if "(?P<format>" in regex or pattern.name in found:
            continue
        template = _GROUP.sub(lambda m: "{" + ("id" if m[1] == "pk" else m[1]) + "}", regex.strip("^$"))
        found[pattern.name] = template
    return found


class ApiRootView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    http_method_names = ["get", "head", "options"]

    @extend_schema(exclude=True)
    def get(self, request):
        from config.api_router import router

        base = request.build_absolute_uri(request.path)
        return Response(
            {
                "name": "Customer Success CRM API",
                "version": "1",
                "authentication": "Every endpoint below needs `Authorization: Bearer <api key>` (an admin creates "
                "keys in the admin under API keys) or a logged-in session. This listing is public.",
                "schema": request.build_absolute_uri(reverse("api-schema")),
                "docs": request.build_absolute_uri(reverse("api-docs")),
                "endpoints": {name: base + template for name, template in entry_points(router.urls).items()},
            }
        )
