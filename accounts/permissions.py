"""API permissions: what a request may do follows the Django model permissions of its user's role."""

from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import DjangoModelPermissions

from accounts.models import ApiKey

_VIEW = ["%(app_label)s.view_%(model_name)s"]


class RolePermissions(DjangoModelPermissions):
    """DjangoModelPermissions that also guards reads.

    - anonymous -> 401 (NotAuthenticated; the Bearer authenticator adds the WWW-Authenticate header);
    - an API key's service user acts with its role's permissions;
    - a session user must be active staff (and never a service account);
    - GET/HEAD/OPTIONS need the model's `view` permission, POST `add`, PUT/PATCH `change`, DELETE `delete`.
    Works with views that set `queryset` or define `get_queryset()` (the model is taken from it).
    """

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": _VIEW,
        "HEAD": _VIEW,
        "OPTIONS": _VIEW,
    }

    def has_permission(self, request, view):
        user = request.user
        if not user or not user.is_authenticated:
            raise NotAuthenticated()
        if not user.is_active:
            return False
        if isinstance(request.auth, ApiKey):
            if request.auth.revoked_at is not None or not user.is_service_account:
                return False
        elif not user.is_staff or user.is_service_account:
            return False
        return super().has_permission(request, view)

    def _queryset(self, view):
        """Only the model matters here: take it from `permission_model` or a plain `queryset` when the view has
        one, instead of building the view's full selector (annotations, joins) a second time per request."""
        model = getattr(view, "permission_model", None)
        if model is not None:
            return model._default_manager.none()
        queryset = getattr(view, "queryset", None)
        if queryset is not None:
            return queryset
        return super()._queryset(view)
