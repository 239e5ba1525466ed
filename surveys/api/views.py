"""REST API v1 for surveys: surveys, sending invitations, campaigns to an audience, results, responses,
invitations and campaigns lists, CSV export. Thin: reads come from surveys.selectors / surveys.results, writes
go through surveys.services, surveys.campaigns and surveys.scheduling.campaign_start; errors are mapped by
crm.api.errors (a django ValidationError -> 400, nothing changed)."""

import uuid

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from accounts.permissions import RolePermissions
from crm.api.errors import DETAIL_ERRORS, ERROR_404, LIST_ERRORS, WRITE_ERRORS
from crm.api.views import ApiViewSet, location_header
from surveys import selectors, services
from surveys.api.serializers import (
    SurveyCampaignInputSerializer,
    SurveyCampaignSerializer,
    SurveyInputSerializer,
    SurveyInvitationSendInputSerializer,
    SurveyInvitationSendResultSerializer,
    SurveyInvitationSerializer,
    SurveyResponseSerializer,
    SurveyResultsQuerySerializer,
    SurveyResultsSerializer,
    SurveySerializer,
    SurveyUpdateInputSerializer,
)
from surveys.campaigns import MAX_CONTACTS_PER_REQUEST, invitations_send
from surveys.filters import CampaignFilterSet, InvitationFilterSet, ResponseFilterSet, SurveyFilterSet
from surveys.results import ResultsQuery, results_responses, survey_results
from surveys.scheduling import campaign_start

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="Same as `trigger_key` in the body (which wins when both are given).",
)
CSV_FORMAT = OpenApiParameter(
    "format",
    OpenApiTypes.STR,
    OpenApiParameter.QUERY,
    required=False,
    enum=["json", "csv"],
    description="`csv`: every matching response as a streamed CSV file (not paginated).",
)


class CsvRenderer(BaseRenderer):
    """Lets `?format=csv` (or `.csv`, or `Accept: text/csv`) select the CSV export; the views stream it."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):  # pragma: no cover - streamed
        raise NotImplementedError("CSV answers are streamed by the view.")


def json_only(responses: dict) -> dict:
    """Error answers of a view that can also answer CSV are JSON all the same."""
    return {(code, "application/json"): response for code, response in responses.items()}


def wants_csv(request) -> bool:
    return getattr(getattr(request, "accepted_renderer", None), "format", None) == "csv"


def csv_response(rows, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class CsvErrorsAsJsonMixin:
    """An error of a CSV request (bad filter, 404) and an OPTIONS request are answered as JSON, like every other
    error."""

    def options(self, request, *args, **kwargs):
        """OPTIONS describes the endpoint (DRF metadata) in JSON, whatever format the request asked for."""
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = JSONRenderer.media_type
        return super().options(request, *args, **kwargs)

    def handle_exception(self, exc):
        if wants_csv(self.request):
            self.request.accepted_renderer = JSONRenderer()
            self.request.accepted_media_type = JSONRenderer.media_type
        return super().handle_exception(exc)


class InvitationSendPermission(RolePermissions):
    """Sending invitations needs `surveys.add_invitation` (CSMs and admins), not the right to add surveys."""

    def get_required_permissions(self, method, model_cls):
        if method == "POST":
            return ["surveys.add_invitation"]
        return super().get_required_permissions(method, model_cls)


class CampaignPermission(RolePermissions):
    """Starting a campaign needs `surveys.add_invitation`, like sending invitations; reading them
    `surveys.view_campaign`."""

    def get_required_permissions(self, method, model_cls):
        if method == "POST":
            return ["surveys.add_invitation"]
        return ["surveys.view_campaign"]


SURVEY_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Survey id.")
CAMPAIGN_IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="The same key starts this survey's campaign once: a retried request answers 200 with the "
    "campaign the first one started. Letters, digits and . _ : @ / + - (at most 90).",
)
CAMPAIGN_EXAMPLE = {
    "id": 7,
    "survey": 3,
    "survey_name": "Quarterly NPS",
    "status": "queued",
    "audience": {
        "tiers": ["enterprise"],
        "lifecycle_stages": [],
        "owners": ["ana@example.com"],
        "contact_roles": ["champion"],
        "customers": [],
        "contacts": [],
        "all": False,
    },
    "invited": None,
    "suppressed": None,
    "emails": {"sent": 0, "resent": 0, "unknown": 0, "failed": 0, "pending": 0},
    "trigger_key": "campaign:20260302-080000-1a2b3c",
    "created_by": "integration@example.com",
    "created_at": "2026-03-02T08:00:00Z",
    "started_at": None,
    "finished_at": None,
}


def campaigns_data(campaigns, context: dict | None = None, many: bool = True):
    """Campaigns rendered with the owner emails of all of them loaded in one query."""
    rows = list(campaigns) if many else [campaigns]
    context = {
        **(context or {}),
        "owner_emails": selectors.campaign_owner_emails(rows),
        "email_counts": selectors.campaign_email_counts(rows),
    }
    return SurveyCampaignSerializer(campaigns, many=many, context=context).data


@extend_schema(tags=["surveys"])
class SurveyViewSet(CsvErrorsAsJsonMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """NPS, CES and CSAT surveys."""

    serializer_class = SurveySerializer
    filterset_class = SurveyFilterSet
    ordering = ("name",)
    ordering_fields = ("name", "created_at", "updated_at")

    def get_queryset(self):
        return selectors.survey_list()

    @extend_schema(summary="List surveys", responses={200: SurveySerializer(many=True), **LIST_ERRORS})
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Get a survey", responses={200: SurveySerializer, **DETAIL_ERRORS})
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Create a survey",
        request=SurveyInputSerializer,
        responses={201: SurveySerializer, **WRITE_ERRORS},
        examples=[
            OpenApiExample(
                "quarterly NPS",
                value={"name": "Quarterly NPS", "kind": "nps", "reminder_after_days": 3},
                request_only=True,
            )
        ],
    )
    def create(self, request, *args, **kwargs):
        serializer = SurveyInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        survey = services.survey_create(actor=self.actor, **serializer.validated_data)
        return Response(
            SurveySerializer(survey).data,
            status=status.HTTP_201_CREATED,
            headers=location_header(request, "survey-detail", survey.pk),
        )

    @extend_schema(
        summary="Update some settings of a survey",
        request=SurveyUpdateInputSerializer(partial=True),
        responses={200: SurveySerializer, **WRITE_ERRORS, 404: ERROR_404},
        description="`kind` cannot change. `is_active: false` stops every trigger of the survey: invitations "
        'not sent yet are suppressed with the reason "survey is inactive".',
    )
    def partial_update(self, request, *args, **kwargs):
        survey = self.get_object()
        serializer = SurveyUpdateInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        survey = services.survey_update(survey=survey, actor=self.actor, **serializer.validated_data)
        return Response(SurveySerializer(survey).data)

    # --- sending ------------------------------------------------------------------------------------------

    def _trigger_key(self, request, body_key: str | None) -> str:
        if body_key:
            return f"api:{body_key}"
        header = request.headers.get("Idempotency-Key")
        if header is not None:
            field = SurveyInvitationSendInputSerializer().fields["trigger_key"]
            try:
                return f"api:{field.run_validation(header.strip())}"
            except ValidationError as exc:
                raise ValidationError({"Idempotency-Key": exc.detail}) from None
        return f"api:{uuid.uuid4()}"

    @extend_schema(
        summary="Invite contacts to the survey now",
        parameters=[SURVEY_ID, IDEMPOTENCY_KEY],
        request=SurveyInvitationSendInputSerializer,
        responses={
            201: OpenApiResponse(
                SurveyInvitationSendResultSerializer,
                description="Invitations created and dispatched: each was sent (its email queued) or "
                "suppressed by the contact ledger, with the reason.",
            ),
            200: OpenApiResponse(
                SurveyInvitationSendResultSerializer,
                description="The same trigger key was used before for all these contacts: nothing new was "
                "created or sent; the invitations are returned as they are now.",
            ),
            **WRITE_ERRORS,
            404: ERROR_404,
        },
        description=f"Creates one invitation per contact (at most {MAX_CONTACTS_PER_REQUEST}) and dispatches "
        "it in the same request: the contact ledger decides whether it may be emailed now (unsubscribed, "
        "bounced, complained, surveyed within the last 30 days), and a suppressed invitation is recorded "
        "with its reason. Unknown contact ids or an inactive survey: 400 and nothing is created. The same "
        "`trigger_key` (or `Idempotency-Key` header) never invites the same contact to this survey twice, "
        "so a retried request is harmless. Needs the `surveys.add_invitation` permission.",
        examples=[
            OpenApiExample(
                "two contacts",
                value={"contacts": [12, 34], "trigger_key": "onboarding-wave-3"},
                request_only=True,
            ),
            OpenApiExample(
                "one sent, one suppressed",
                value={
                    "invitations": [
                        {"id": 501, "contact": 12, "status": "sent", "suppressed_reason": ""},
                        {
                            "id": 502,
                            "contact": 34,
                            "status": "suppressed",
                            "suppressed_reason": "surveyed 12 days ago",
                        },
                    ],
                    "suppressed": [{"contact": 34, "invitation": 502, "reason": "surveyed 12 days ago"}],
                },
                response_only=True,
            ),
        ],
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="invitations",
        filter_backends=[],
        permission_classes=[InvitationSendPermission],
    )
    def invitations(self, request, pk=None):
        survey = self.get_object()
        serializer = SurveyInvitationSendInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        trigger_key = self._trigger_key(request, data.get("trigger_key"))
        outcome = invitations_send(
            survey=survey, contact_ids=data["contacts"], trigger_key=trigger_key, actor=self.actor
        )
        body = {
            "invitations": SurveyInvitationSerializer(outcome.invitations, many=True).data,
            "suppressed": [
                {"contact": i.contact_id, "invitation": i.pk, "reason": i.suppressed_reason} for i in outcome.suppressed
            ],
        }
        return Response(body, status=status.HTTP_201_CREATED if outcome.created else status.HTTP_200_OK)

    # --- campaigns ----------------------------------------------------------------------------------------

    def _request_key(self, request) -> str:
        header = request.headers.get("Idempotency-Key")
        if header is None:
            return ""
        field = SurveyInvitationSendInputSerializer().fields["trigger_key"]
        try:
            return field.run_validation(header.strip())
        except ValidationError as exc:
            raise ValidationError({"Idempotency-Key": exc.detail}) from None

    @extend_schema(
        methods=["GET"],
        summary="List the survey's campaigns",
        parameters=[SURVEY_ID],
        responses={200: SurveyCampaignSerializer(many=True), 400: WRITE_ERRORS[400], **DETAIL_ERRORS},
        description="Latest first, with their status and counts (see /survey-campaigns/).",
    )
    @extend_schema(
        methods=["POST"],
        summary="Start a campaign: invite every contact of an audience",
        parameters=[SURVEY_ID, CAMPAIGN_IDEMPOTENCY_KEY],
        request=SurveyCampaignInputSerializer,
        responses={
            202: OpenApiResponse(
                SurveyCampaignSerializer,
                description="Campaign recorded (status queued): a worker creates its invitations and the "
                "dispatch scan sends them. Follow it at /api/v1/survey-campaigns/{id}/ (the Location).",
            ),
            200: OpenApiResponse(
                SurveyCampaignSerializer,
                description="Already started: the same Idempotency-Key, or the same audience as a campaign of "
                "this survey that is not done yet. Nothing new was started; nobody is invited twice.",
            ),
            **WRITE_ERRORS,
            404: ERROR_404,
        },
        description="The audience is every contact matching all the filters given (`tiers`, "
        "`lifecycle_stages`, `owners` by email, `contact_roles`; any value within one filter). No filter "
        'is every contact, and must be said with `"all": true`. The campaign is recorded at once and '
        "answered 202 even when the workers cannot be reached: it then starts when they can. Each contact "
        "passes the contact ledger when its invitation is sent (unsubscribed, bounced, surveyed within the "
        "last 30 days: suppressed, with the reason on the invitation). An unknown value is 400 naming its "
        "field; an inactive survey is 400. Needs the `surveys.add_invitation` permission.",
        examples=[
            OpenApiExample(
                "enterprise champions of one CSM",
                value={"tiers": ["enterprise"], "owners": ["ana@example.com"], "contact_roles": ["champion"]},
                request_only=True,
            ),
            OpenApiExample("everyone", value={"all": True}, request_only=True),
            OpenApiExample("queued", value=CAMPAIGN_EXAMPLE, response_only=True, status_codes=["202"]),
        ],
    )
    @action(
        detail=True,
        methods=["get", "post"],
        url_path="campaigns",
        filter_backends=[],
        permission_classes=[CampaignPermission],
        ordering=("-id",),
        ordering_fields=(),
    )
    def campaigns(self, request, pk=None):
        survey = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(selectors.campaign_list().filter(survey=survey))
            return self.get_paginated_response(campaigns_data(page, self.get_serializer_context()))
        serializer = SurveyCampaignInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        campaign, started = campaign_start(
            survey=survey,
            audience=serializer.audience(),
            actor=self.actor,
            request_key=self._request_key(request),
        )
        campaign = selectors.campaign_list().get(pk=campaign.pk)
        return Response(
            campaigns_data(campaign, self.get_serializer_context(), many=False),
            status=status.HTTP_202_ACCEPTED if started else status.HTTP_200_OK,
            headers=location_header(request, "survey-campaign-detail", campaign.pk),
        )

    # --- results ------------------------------------------------------------------------------------------

    @staticmethod
    def _results_query(request) -> ResultsQuery:
        params = request.query_params
        data = {}
        for name in params:
            if name == "format":
                continue
            data[name] = params.getlist(name) if name in ("tier", "lifecycle_stage") else params.get(name)
        serializer = SurveyResultsQuerySerializer(data=data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        return ResultsQuery(
            start=values.get("start"),
            end=values.get("end"),
            interval=values.get("interval") or "month",
            tiers=tuple(values.get("tier") or ()),
            lifecycle_stages=tuple(values.get("lifecycle_stage") or ()),
            owner_email=values.get("owner"),
            customer_id=values.get("customer"),
        )

    @extend_schema(
        summary="Results: responses, response rate, NPS / CES / CSAT and the trend",
        parameters=[SURVEY_ID, SurveyResultsQuerySerializer, CSV_FORMAT],
        responses={
            (200, "application/json"): SurveyResultsSerializer,
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="The responses in scope, one per line (see /survey-responses/)."
            ),
            **json_only({400: WRITE_ERRORS[400], **DETAIL_ERRORS}),
        },
        description="For the responses answered in the period (`start`..`end`, both days included; default: "
        "all time) of customers matching the filters. NPS = % promoters (9-10) - % detractors (0-6), "
        "-100..100; CES = mean of the 1-7 answers, with the % of answers 5-7; CSAT = % of 4-5 answers. "
        "Metrics of other kinds are null, as are all metrics when there is no response. `response_rate` = "
        "the % of the invitations sent in the period that were answered. `trend` has every week (from "
        "Monday) or month of the period, oldest first. `GET /api/v1/surveys/{id}/results.csv` (or "
        "`?format=csv`) streams the responses in the same scope as CSV.",
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="results",
        filter_backends=[],
        pagination_class=None,
        renderer_classes=[JSONRenderer, CsvRenderer],
    )
    def results(self, request, pk=None, format=None):
        survey = self.get_object()
        query = self._results_query(request)
        if wants_csv(request):
            rows = selectors.responses_csv(results_responses(survey=survey, query=query))
            return csv_response(rows, f"survey-{survey.pk}-responses.csv")
        return Response(SurveyResultsSerializer(survey_results(survey=survey, query=query)).data)


@extend_schema(tags=["surveys"])
class SurveyResponseViewSet(CsvErrorsAsJsonMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """Answers to surveys, latest first. `?format=csv` exports every matching response."""

    serializer_class = SurveyResponseSerializer
    filterset_class = ResponseFilterSet
    renderer_classes = [JSONRenderer, CsvRenderer]
    ordering = ("-id",)
    ordering_fields = ("answered_at", "score")

    def get_queryset(self):
        return selectors.response_list()

    def get_renderers(self):
        if self.action in ("list", "metadata"):  # metadata: OPTIONS on the list (answered in JSON)
            return super().get_renderers()
        return [JSONRenderer()]

    @extend_schema(
        summary="List survey responses",
        parameters=[CSV_FORMAT],
        responses={
            (200, "application/json"): SurveyResponseSerializer(many=True),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="Every matching response."),
            **json_only(LIST_ERRORS),
        },
        description="Default order: latest recorded first. `format=csv` streams every matching response "
        "(columns: response_id, answered_at, updated_at, survey_id, survey, kind, score, band, comment, "
        "customer_id, customer, contact_id, contact_email, invitation_id, trigger, seconds_after_send).",
    )
    def list(self, request, *args, **kwargs):
        if wants_csv(request):
            queryset = self.filter_queryset(self.get_queryset())
            return csv_response(selectors.responses_csv(queryset), "survey-responses.csv")
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Get a survey response", responses={200: SurveyResponseSerializer, **DETAIL_ERRORS})
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)


@extend_schema(tags=["surveys"])
class SurveyInvitationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """Invitations: who was asked which survey, by what, and whether it was sent, suppressed (with the
    reason), answered or expired. Tokens are never shown."""

    serializer_class = SurveyInvitationSerializer
    filterset_class = InvitationFilterSet
    ordering = ("-id",)
    ordering_fields = ("created_at", "sent_at")

    def get_queryset(self):
        return selectors.invitation_list()

    @extend_schema(
        summary="List survey invitations",
        responses={200: SurveyInvitationSerializer(many=True), **LIST_ERRORS},
        description="Default order: latest created first.",
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Get a survey invitation", responses={200: SurveyInvitationSerializer, **DETAIL_ERRORS})
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)


@extend_schema(tags=["surveys"])
class SurveyCampaignViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """Campaigns to an audience (started with POST /surveys/{id}/campaigns/ or in the admin): their audience,
    status and counts. Their invitations: /survey-invitations/?survey=...&trigger_key is on each campaign."""

    serializer_class = SurveyCampaignSerializer
    filterset_class = CampaignFilterSet
    ordering = ("-id",)
    ordering_fields = ("created_at",)

    def get_queryset(self):
        return selectors.campaign_list()

    @extend_schema(
        summary="List survey campaigns",
        responses={200: SurveyCampaignSerializer(many=True), **LIST_ERRORS},
        description="Default order: latest started first.",
    )
    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(campaigns_data(page, self.get_serializer_context()))

    @extend_schema(summary="Get a survey campaign", responses={200: SurveyCampaignSerializer, **DETAIL_ERRORS})
    def retrieve(self, request, *args, **kwargs):
        return Response(campaigns_data(self.get_object(), self.get_serializer_context(), many=False))
