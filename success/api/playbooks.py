"""REST API v1 for onboarding playbooks:

    GET   /api/v1/playbooks/                                 templates with their steps and versions
    GET   /api/v1/playbooks/{id}/time-to-value/, .../friction/, .../export/   (success/api/playbook_reports.py)
    POST  /api/v1/playbooks/import/                          the JSON of `manage.py playbooks import`
    GET   /api/v1/playbook-runs/?customer=&status=&owner=    runs with their steps and progress
    POST  /api/v1/playbook-runs/                             start {"playbook", "customer"}
    POST  /api/v1/playbook-runs/{id}/cancel/                 cancel {"reason"}: open steps skipped, tasks cancelled
    GET   /api/v1/playbook-runs/{run_id}/steps/[{id}/]
    PATCH /api/v1/playbook-runs/{run_id}/steps/{id}/         complete ({"status": "done"}), skip ({"status":
                                                             "skipped", "reason"}), re-date ({"due_date"}),
                                                             reassign ({"assignee"}); together or not at all

Reads come from success.playbooks.selectors, writes go through success.playbooks.services.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Max
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from crm.api.errors import DETAIL_ERRORS, ERROR_404, LIST_ERRORS, WRITE_ERRORS
from crm.api.serializers import InputSerializer, StaffEmailField
from crm.api.views import ApiViewSet, location_header
from crm.filters import EmailFilter, IdFilter, choice_filter
from crm.models import ContactRole, Customer, LifecycleStage
from success.api.playbook_reports import PlaybookExportSerializer, PlaybookReportsMixin, api_field
from success.playbooks import selectors, services
from success.playbooks.definitions import playbook_import
from success.playbooks.models import PlaybookRun, PlaybookStep, PlaybookTemplate, PlaybookVersion, RunStep

# --- Templates -----------------------------------------------------------------------------------------------


class PlaybookStepSerializer(serializers.ModelSerializer):
    email_template = serializers.IntegerField(source="email_template_id", allow_null=True, read_only=True)
    survey = serializers.IntegerField(source="survey_id", allow_null=True, read_only=True)
    contact_role = serializers.ChoiceField(
        ContactRole.choices, allow_blank=True, read_only=True, help_text="Empty: the primary contact."
    )

    class Meta:
        model = PlaybookStep
        fields = (
            "position",
            "title",
            "instructions",
            "kind",
            "offset_days",
            "offset_from",
            "assignee",
            "email_template",
            "contact_role",
            "survey",
            "milestone_event",
            "meeting_minutes",
        )
        read_only_fields = fields


class PlaybookVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = PlaybookVersion
        fields = ("number", "created_at")
        read_only_fields = fields


class PlaybookSerializer(serializers.ModelSerializer):
    steps = PlaybookStepSerializer(many=True, read_only=True, help_text="The working copy, in order.")
    versions = PlaybookVersionSerializer(many=True, read_only=True, help_text="Newest first; runs keep theirs.")
    lifecycle_stage = serializers.ChoiceField(
        LifecycleStage.choices, allow_blank=True, read_only=True, help_text="Started on entering it; empty: by hand."
    )
    next_stage = serializers.ChoiceField(
        LifecycleStage.choices, allow_blank=True, read_only=True, help_text="Moved to on completion; empty: stays."
    )

    class Meta:
        model = PlaybookTemplate
        fields = (
            "id",
            "name",
            "description",
            "lifecycle_stage",
            "next_stage",
            "is_active",
            "created_at",
            "updated_at",
            "steps",
            "versions",
        )
        read_only_fields = fields


class PlaybookFilterSet(filters.FilterSet):
    lifecycle_stage = choice_filter(LifecycleStage.choices, help_text="Templates bound to one of these stages.")

    class Meta:
        model = PlaybookTemplate
        fields = []


@extend_schema(tags=["playbooks"])
class PlaybookViewSet(PlaybookReportsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """Onboarding playbook templates (edited in the admin or imported as JSON with `manage.py playbooks`)."""

    permission_model = PlaybookTemplate
    serializer_class = PlaybookSerializer
    filterset_class = PlaybookFilterSet
    ordering = ("name",)
    ordering_fields = ("name",)

    def get_queryset(self):
        return selectors.playbook_list()

    @extend_schema(summary="List playbook templates", responses={200: PlaybookSerializer(many=True), **LIST_ERRORS})
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Get a playbook template", responses={200: PlaybookSerializer, **DETAIL_ERRORS})
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Import a playbook from JSON (config as code)",
        request=PlaybookExportSerializer,
        responses={
            201: OpenApiResponse(PlaybookSerializer, description="A new template was created."),
            200: OpenApiResponse(PlaybookSerializer, description="The template of that name, updated or unchanged."),
            **WRITE_ERRORS,
        },
        description="The JSON of `GET /playbooks/{id}/export/` (or `manage.py playbooks export`), validated as "
        "`manage.py playbooks import` does: creates the template of that name or replaces its steps. A new "
        "version is made only when the definition changed (importing it unchanged makes none). Refused with "
        "nothing changed, 400 naming the field by its path, e.g. `steps.2.offset_days` or "
        "`steps.0.email_template` (an email template or survey name unknown here).",
        filters=False,
    )
    @action(detail=False, methods=["post"], url_path="import", pagination_class=None, filterset_class=None)
    def import_json(self, request):
        data = request.data
        name = data.get("name") if isinstance(data, dict) else None
        latest = PlaybookTemplate.objects.filter(name=name).aggregate(number=Max("versions__number"))["number"]
        existed = latest is not None or PlaybookTemplate.objects.filter(name=name).exists()
        try:
            template, _ = playbook_import(data=data, actor=self.actor)
        except DjangoValidationError as exc:
            if not hasattr(exc, "error_dict"):
                raise
            raise DjangoValidationError(
                {api_field(field): messages for field, messages in exc.message_dict.items()}
            ) from exc
        body = PlaybookSerializer(selectors.playbook_list().get(pk=template.pk)).data
        if existed:
            return Response(body)
        return Response(
            body, status=status.HTTP_201_CREATED, headers=location_header(request, "playbook-detail", template.pk)
        )


# --- Runs ----------------------------------------------------------------------------------------------------


class RunStepSerializer(serializers.ModelSerializer):
    assignee = StaffEmailField(read_only=True, allow_null=True, help_text="Who does it (email); null: the customer.")
    instructions = serializers.SerializerMethodField()
    task = serializers.IntegerField(source="task_id", allow_null=True, read_only=True, help_text="Its CSM task.")

    class Meta:
        model = RunStep
        fields = (
            "id",
            "position",
            "title",
            "instructions",
            "kind",
            "assignee_kind",
            "assignee",
            "status",
            "due_date",
            "planned_due_date",
            "redated_count",
            "skip_reason",
            "completed_at",
            "executed_at",
            "result",
            "task",
        )
        read_only_fields = fields

    def get_instructions(self, obj) -> str:
        return obj.spec.get("instructions", "")


class ProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField()
    skipped = serializers.IntegerField()
    total = serializers.IntegerField()
    days_late = serializers.IntegerField(help_text="Most days a pending step is past due (customer's local date).")
    schedule_state = serializers.ChoiceField(
        selectors.RunState.choices,
        help_text="at_risk: overdue by at most PLAYBOOK_AT_RISK_DAYS (default 2); late: more.",
    )
    next_step = serializers.IntegerField(allow_null=True, help_text="The id of the first pending step by due date.")


class PlaybookRunSerializer(serializers.ModelSerializer):
    playbook = serializers.IntegerField(source="template_id", read_only=True)
    playbook_name = serializers.CharField(source="template.name", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    owner = StaffEmailField(read_only=True, allow_null=True)
    progress = serializers.SerializerMethodField()
    steps = RunStepSerializer(many=True, read_only=True)

    class Meta:
        model = PlaybookRun
        fields = (
            "id",
            "playbook",
            "playbook_name",
            "version",
            "customer",
            "customer_name",
            "owner",
            "status",
            "started_on",
            "started_at",
            "completed_at",
            "entry_key",
            "progress",
            "steps",
        )
        read_only_fields = fields

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, obj) -> dict:
        progress = selectors.run_progress(obj)
        return {
            "done": progress.done,
            "skipped": progress.skipped,
            "total": progress.total,
            "days_late": progress.days_late,
            "schedule_state": progress.state,
            "next_step": progress.next_step.pk if progress.next_step else None,
        }


class RunStartInputSerializer(InputSerializer):
    playbook = serializers.PrimaryKeyRelatedField(
        queryset=PlaybookTemplate.objects.all(), help_text="The playbook template's id."
    )
    customer = serializers.PrimaryKeyRelatedField(queryset=Customer.objects.all(), help_text="The customer's id.")


class RunCancelInputSerializer(InputSerializer):
    reason = serializers.CharField(max_length=300, help_text="Why the run is cancelled (on the timeline).")


class RunFilterSet(filters.FilterSet):
    customer = IdFilter(field_name="customer_id", help_text="The customer's id.")
    playbook = IdFilter(field_name="template_id", help_text="The playbook template's id.")
    status = choice_filter(PlaybookRun.Status.choices, help_text="One or more statuses.")
    owner = EmailFilter(field_name="owner__email", lookup_expr="iexact", help_text="The owner CSM's email.")

    class Meta:
        model = PlaybookRun
        fields = []


@extend_schema(tags=["playbooks"])
class PlaybookRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """Playbook runs: a template's version started for one customer, with its steps and progress."""

    permission_model = PlaybookRun
    serializer_class = PlaybookRunSerializer
    filterset_class = RunFilterSet
    ordering = ("-started_at",)
    ordering_fields = ("started_at",)

    def get_queryset(self):
        return selectors.run_list()

    @extend_schema(summary="List playbook runs", responses={200: PlaybookRunSerializer(many=True), **LIST_ERRORS})
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Get a playbook run", responses={200: PlaybookRunSerializer, **DETAIL_ERRORS})
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Start a playbook for a customer",
        request=RunStartInputSerializer,
        responses={201: OpenApiResponse(PlaybookRunSerializer, description="Started."), **WRITE_ERRORS},
        description="400 on `customer` for a churned customer; on `playbook` for an inactive template or when "
        "the customer already has an active run of it.",
    )
    def create(self, request, *args, **kwargs):
        serializer = RunStartInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = services.playbook_start(
            template=serializer.validated_data["playbook"],
            customer=serializer.validated_data["customer"],
            actor=self.actor,
        )
        data = PlaybookRunSerializer(selectors.run_list().get(pk=run.pk)).data
        return Response(
            data, status=status.HTTP_201_CREATED, headers=location_header(request, "playbook-run-detail", run.pk)
        )

    @extend_schema(
        summary="Cancel a playbook run",
        request=RunCancelInputSerializer,
        responses={200: PlaybookRunSerializer, **WRITE_ERRORS, 404: ERROR_404},
        description="Like the admin's Cancel action: the open steps are closed (their tasks cancelled), the run "
        "becomes `cancelled` and the timeline says why. 400 on `reason` when it is missing or blank, on `status` "
        "when the run is already completed or cancelled (nothing changes then).",
        filters=False,
    )
    @action(detail=True, methods=["post"], url_path="cancel", pagination_class=None, filterset_class=None)
    def cancel(self, request, pk=None):
        run = get_object_or_404(PlaybookRun.objects.only("pk"), pk=pk)
        if not request.user.has_perm("success.change_playbookrun"):
            raise PermissionDenied("Your role cannot cancel playbook runs.")
        serializer = RunCancelInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.run_cancel(run=run, reason=serializer.validated_data["reason"], actor=self.actor)
        return Response(PlaybookRunSerializer(selectors.run_list().get(pk=run.pk)).data)


class RunStepUpdateInputSerializer(InputSerializer):
    status = serializers.ChoiceField(
        [("done", "done"), ("skipped", "skipped")], required=False, help_text="done: complete; skipped: skip."
    )
    reason = serializers.CharField(required=False, allow_blank=True, max_length=300, help_text="Why it is skipped.")
    due_date = serializers.DateField(required=False, help_text="A new due date (not in the past).")
    assignee = StaffEmailField(required=False, help_text="Reassign to this staff user (email).")


RUN_ID = OpenApiParameter("run_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The run's id.")


@extend_schema(tags=["playbooks"], parameters=[RUN_ID])
class RunStepViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """The steps of one run."""

    permission_model = RunStep
    serializer_class = RunStepSerializer
    ordering = ("position",)
    ordering_fields = ()
    http_method_names = ["get", "patch", "head", "options"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return RunStep.objects.none()
        return RunStep.objects.filter(run_id=self.kwargs["run_id"]).select_related("assignee")

    def _run(self):
        return get_object_or_404(PlaybookRun.objects.only("pk"), pk=self.kwargs["run_id"])

    @extend_schema(
        summary="A run's steps", responses={200: RunStepSerializer(many=True), **LIST_ERRORS, 404: ERROR_404}
    )
    def list(self, request, *args, **kwargs):
        self._run()
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Get a run's step", responses={200: RunStepSerializer, **DETAIL_ERRORS})
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Complete, skip, re-date or reassign a step",
        request=RunStepUpdateInputSerializer,
        responses={200: RunStepSerializer, **WRITE_ERRORS, 404: ERROR_404},
        description='{"status": "done"} completes the step (the final milestone completes the run and moves the '
        'customer on); {"status": "skipped", "reason": "..."} skips it; "due_date" re-dates it (steps counting '
        'from it move too); "assignee" reassigns it. Each is a timeline event; all apply together or none.',
    )
    def partial_update(self, request, *args, **kwargs):
        step = self.get_object()
        serializer = RunStepUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if not data:
            raise serializers.ValidationError({"status": ["Send status, due_date or assignee."]})
        if "reason" in data and data.get("status") != "skipped":
            raise serializers.ValidationError({"reason": ['A reason goes with {"status": "skipped"}.']})
        with transaction.atomic():
            if "assignee" in data:
                step = services.run_step_reassign(step=step, assignee=data["assignee"], actor=self.actor)
            if "due_date" in data:
                step = services.run_step_redate(step=step, due_date=data["due_date"], actor=self.actor)
            if data.get("status") == "done":
                step = services.run_step_complete(step=step, actor=self.actor)
            elif data.get("status") == "skipped":
                step = services.run_step_skip(step=step, reason=data.get("reason", ""), actor=self.actor)
        return Response(RunStepSerializer(RunStep.objects.select_related("assignee").get(pk=step.pk)).data)


def register_routes(router) -> None:
    router.register("playbooks", PlaybookViewSet, basename="playbook")
    router.register(r"playbook-runs/(?P<run_id>[0-9]+)/steps", RunStepViewSet, basename="playbook-run-step")
    router.register("playbook-runs", PlaybookRunViewSet, basename="playbook-run")
