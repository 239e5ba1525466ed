"""Routes of the surveys API (registered on the router of config/api_router.py)."""

from rest_framework.routers import SimpleRouter

from surveys.api.views import SurveyInvitationViewSet, SurveyResponseViewSet, SurveyViewSet

ROUTES = [
    ("surveys", SurveyViewSet, "survey"),
    ("survey-responses", SurveyResponseViewSet, "survey-response"),
    ("survey-invitations", SurveyInvitationViewSet, "survey-invitation"),
]


def register_routes(router: SimpleRouter) -> None:
    for prefix, viewset, basename in ROUTES:
        router.register(prefix, viewset, basename=basename)
