"""drf-spectacular extensions for the accounts app (imported by AccountsConfig.ready)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        scheme = build_bearer_security_scheme_object(
            header_name="AUTHORIZATION",
            token_prefix="Bearer",  # noqa: S106  (the HTTP scheme name, not a secret)
            bearer_format="csk_<prefix>_<secret>",
        )
        scheme["description"] = (
            "An API key created in the admin or with `manage.py create_api_key NAME --role ROLE`, sent as "
            "`Authorization: Bearer <key>`. The key's role decides what it may read and change."
        )
        return scheme
