"""REST API v1 on one playbook template: its reports and its JSON (config as code). Mixed into
success.api.playbooks.PlaybookViewSet:

    GET  /api/v1/playbooks/{id}/time-to-value/?from=&to=&owner=   runs and distributions (template, per CSM)
    GET  /api/v1/playbooks/{id}/friction/                         per step: late / skipped / re-dated, delay
    GET  /api/v1/playbooks/{id}/export/                           the JSON of `manage.py playbooks export`

(POST /api/v1/playbooks/import/, the JSON of `manage.py playbooks import`, is on the view set itself: it answers
the template as the list shows it.)

Reports come from success.playbooks.reports (one query each, whatever the number of runs); the JSON from
success.playbooks.definitions (the command's functions, so the API validates exactly as the command does).
"""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from crm.api.errors import DETAIL_ERRORS, ERROR_400
from crm.api.serializers import InputSerializer
from crm.models import ContactRole, LifecycleStage
from success.playbooks import reports
from success.playbooks.definitions import playbook_export
from success.playbooks.models import AssigneeKind, OffsetFrom, PlaybookRun, PlaybookTemplate, StepKind

MAX_ROWS = 1000

# --- Time to value -------------------------------------------------------------------------------------------


class TimeToValueQuerySerializer(InputSerializer):
    # `from` and `to` are Python keywords: declared through the class namespace.
    locals()["from"] = serializers.DateField(
        required=False, help_text="Runs started on or after this day (the customer's local date, YYYY-MM-DD)."
    )
    locals()["to"] = serializers.DateField(required=False, help_text="Runs started on or before this day.")
    owner = serializers.EmailField(required=False, help_text="Only the runs owned by this CSM (email).")

    def to_internal_value(self, data):
        return super().to_internal_value({key: data.get(key) for key in data})

    def validate(self, attrs):
        if "from" in attrs and "to" in attrs and attrs["to"] < attrs["from"]:
            raise serializers.ValidationError({"to": ["Must not be before `from`."]})
        return attrs


class DistributionSerializer(serializers.Serializer):
    finished = serializers.IntegerField(help_text="Runs completed (their final milestone done).")
    median_days = serializers.FloatField(allow_null=True, help_text="Median days to value; null: none finished.")
    p90_days = serializers.IntegerField(allow_null=True, help_text="90th percentile (nearest rank).")
    decided = serializers.IntegerField(help_text="Runs finished, or started at least 30 days ago.")
    within_30 = serializers.IntegerField(help_text="Of the decided runs: finished within 30 days.")
    share_within_30 = serializers.FloatField(allow_null=True, help_text="within_30 / decided (0..1); null: none.")


class CsmDistributionSerializer(DistributionSerializer):
    owner = serializers.EmailField(allow_null=True, help_text="The owner CSM; null: runs without an owner.")


class TtvRunSerializer(serializers.Serializer):
    run = serializers.IntegerField()
    customer_id = serializers.IntegerField()
    customer = serializers.CharField(help_text="The customer's name.")
    owner = serializers.EmailField(allow_null=True)
    status = serializers.ChoiceField(PlaybookRun.Status.choices)
    started_on = serializers.DateField()
    completed_on = serializers.DateField(allow_null=True, help_text="The customer's local date; null: not yet.")
    days = serializers.IntegerField(allow_null=True, help_text="Time to value in days; null: not finished.")
    within_30 = serializers.BooleanField(allow_null=True, help_text="Null while undecided (younger than 30 days).")


class PlaybookRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class TimeToValueSerializer(serializers.Serializer):
    playbook = PlaybookRefSerializer()
    distribution = DistributionSerializer(help_text="Over the template's runs in scope (cancelled runs excluded).")
    by_csm = CsmDistributionSerializer(many=True, help_text="The same per owner CSM, by email.")
    runs_total = serializers.IntegerField(help_text="Runs in scope.")
    runs = TtvRunSerializer(many=True, help_text=f"Per customer, latest start first; at most {MAX_ROWS}.")


def _distribution(dist: reports.Distribution, **extra) -> dict:
    return {
        "finished": dist.finished,
        "median_days": dist.median_days,
        "p90_days": dist.p90_days,
        "decided": dist.decided,
        "within_30": dist.within_30,
        "share_within_30": dist.share_within_30,
        **extra,
    }


# --- Friction ------------------------------------------------------------------------------------------------


class FrictionStepSerializer(serializers.Serializer):
    position = serializers.IntegerField()
    title = serializers.CharField()
    runs = serializers.IntegerField(help_text="Runs (not cancelled) that had the step.")
    late = serializers.IntegerField(help_text="Done after its due date, or pending past it in an active run.")
    skipped = serializers.IntegerField(help_text="Skipped by a person (not closed by the run's completion).")
    redated = serializers.IntegerField(help_text="Re-dated at least once.")
    late_share = serializers.FloatField(allow_null=True, help_text="late / runs (0..1).")
    skipped_share = serializers.FloatField(allow_null=True)
    redated_share = serializers.FloatField(allow_null=True)
    median_delay = serializers.FloatField(allow_null=True, help_text="Median days done after due (early: 0).")


class FrictionSerializer(serializers.Serializer):
    playbook = PlaybookRefSerializer()
    steps = FrictionStepSerializer(many=True, help_text="By position, over every version's runs.")


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


# --- Config as code ------------------------------------------------------------------------------------------


class PlaybookExportStepSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    instructions = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    offset_days = serializers.IntegerField(required=False, min_value=0, max_value=365, help_text="Business days.")
    offset_from = serializers.ChoiceField(OffsetFrom.choices, required=False)
    assignee = serializers.ChoiceField(AssigneeKind.choices, required=False)
    kind = serializers.ChoiceField(StepKind.choices, required=False)
    email_template = serializers.CharField(
        required=False, allow_null=True, help_text="Email steps: the email template's name."
    )
    contact_role = serializers.ChoiceField(ContactRole.choices, required=False, allow_blank=True)
    survey = serializers.CharField(required=False, allow_null=True, help_text="Survey steps: the survey's name.")
    milestone_event = serializers.CharField(required=False, allow_blank=True, max_length=100)
    meeting_minutes = serializers.IntegerField(required=False, min_value=5, max_value=480)


class PlaybookExportSerializer(serializers.Serializer):
    format = serializers.ChoiceField([("playbook/1", "playbook/1")], required=False)
    name = serializers.CharField(max_length=100, help_text="Import creates the template of this name or updates it.")
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    lifecycle_stage = serializers.ChoiceField(LifecycleStage.choices, required=False, allow_blank=True)
    next_stage = serializers.ChoiceField(LifecycleStage.choices, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)
    steps = PlaybookExportStepSerializer(many=True)


def api_field(key: str) -> str:
    """The definitions' "steps[2].offset_days" as the API's dotted path "steps.2.offset_days"."""
    return key.replace("[", ".").replace("]", "")


# --- The mixin -----------------------------------------------------------------------------------------------


class PlaybookReportsMixin:
    """Actions of PlaybookViewSet (success/api/playbooks.py)."""

    def _template(self, pk) -> PlaybookTemplate:
        return get_object_or_404(PlaybookTemplate.objects.all(), pk=pk)

    @extend_schema(
        summary="Time to value of a playbook",
        parameters=[TimeToValueQuerySerializer],
        responses={200: TimeToValueSerializer, 400: ERROR_400, **DETAIL_ERRORS},
        description="Days from a run's start to its completion (the final milestone), in the customer's time "
        "zone: per customer, and as a distribution for the template and per owner CSM (median, p90, share "
        "finished within 30 days among the runs finished or started at least 30 days ago). `from` / `to` "
        "bound the runs' start dates, `owner` keeps one CSM's runs. Cancelled runs are left out.",
        filters=False,
    )
    @action(detail=True, methods=["get"], url_path="time-to-value", pagination_class=None, filterset_class=None)
    def time_to_value(self, request, pk=None):
        template = self._template(pk)
        query = TimeToValueQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        ttv = reports.time_to_value(
            template=template,
            started_from=params.get("from"),
            started_to=params.get("to"),
            owner_email=params.get("owner"),
        )
        rows = sorted(ttv.per_run, key=lambda row: (row["started_on"], row["run"]), reverse=True)
        data = {
            "playbook": {"id": template.pk, "name": template.name},
            "distribution": _distribution(ttv.overall),
            "by_csm": [_distribution(dist, owner=email or None) for email, dist in ttv.by_csm.items()],
            "runs_total": len(rows),
            "runs": rows[:MAX_ROWS],
        }
        return Response(TimeToValueSerializer(data).data)

    @extend_schema(
        summary="Friction per step of a playbook",
        responses={200: FrictionSerializer, **DETAIL_ERRORS},
        description="For each step (by position and title, over all runs and versions, cancelled runs left "
        "out): how many runs had it, how often it was late, skipped by a person or re-dated (counts and "
        "shares of its runs), and the median delay of the steps done, in days after their due date.",
        filters=False,
    )
    @action(detail=True, methods=["get"], url_path="friction", pagination_class=None, filterset_class=None)
    def friction(self, request, pk=None):
        template = self._template(pk)
        steps = [
            {
                **vars(row),
                "late_share": _share(row.late, row.runs),
                "skipped_share": _share(row.skipped, row.runs),
                "redated_share": _share(row.redated, row.runs),
            }
            for row in reports.friction(template=template)
        ]
        return Response(
            FrictionSerializer({"playbook": {"id": template.pk, "name": template.name}, "steps": steps}).data
        )

    @extend_schema(
        summary="Export a playbook as JSON",
        responses={200: PlaybookExportSerializer, **DETAIL_ERRORS},
        description="The same JSON as `manage.py playbooks export`: the working copy, email templates and surveys "
        "by name (ids differ between instances). POST it to /api/v1/playbooks/import/ on another instance.",
        filters=False,
    )
    @action(detail=True, methods=["get"], url_path="export", pagination_class=None, filterset_class=None)
    def export(self, request, pk=None):
        return Response(playbook_export(self._template(pk)))
