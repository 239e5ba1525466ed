"""Routes of the surveys API (registered on the router of config/api_router.py)."""

from rest_framework.routers import SimpleRouter

from surveys.api.views import (
    SurveyCampaignViewSet,
    SurveyInvitationViewSet,
    SurveyResponseViewSet,
    SurveyViewSet,
)

ROUTES = [
    ("surveys", SurveyViewSet, "survey"),
    ("survey-responses", SurveyResponseViewSet, "survey-response"),
    ("survey-invitations", SurveyInvitationViewSet, "survey-invitation"),
    ("survey-campaigns", SurveyCampaignViewSet, "survey-campaign"),
]


def register_routes(router: SimpleRouter) -> None:
    for prefix, viewset, basename in ROUTES:
        router.register(prefix, viewset, basename=basename)
