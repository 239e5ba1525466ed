"""API shapes for CSM tasks (see crm.api.serializers for the conventions)."""

from rest_framework import serializers

from crm.api.serializers import InputSerializer, OutputSerializer, SourceTypeMixin, StaffEmailField
from crm.models import Customer, Task

TASK_READ_ONLY = (
    "id",
    "customer_name",
    "source_type",
    "source_id",
    "created_by",
    "created_at",
    "updated_at",
    "closed_at",
)


class TaskInputSerializer(InputSerializer):
    """A new task."""

    read_only_names = (*TASK_READ_ONLY, "status")

    customer = serializers.PrimaryKeyRelatedField(queryset=Customer.objects.all(), help_text="The customer's id.")
    reason = serializers.CharField(max_length=300, help_text="What to do and why.")
    type = serializers.ChoiceField(Task.Type.choices, required=False)
    owner = StaffEmailField(
        required=False, allow_null=True, help_text="The owner's email; default: the customer's owner CSM."
    )
    due_date = serializers.DateField(required=False, allow_null=True)
    priority = serializers.ChoiceField(Task.Priority.choices, required=False)


class TaskUpdateInputSerializer(InputSerializer):
    """Changes to a task; `status` closes it."""

    read_only_names = (*TASK_READ_ONLY, "customer")

    reason = serializers.CharField(max_length=300, required=False)
    type = serializers.ChoiceField(Task.Type.choices, required=False)
    owner = StaffEmailField(required=False, allow_null=True, help_text="The owner's email; null: nobody.")
    due_date = serializers.DateField(required=False, allow_null=True)
    priority = serializers.ChoiceField(Task.Priority.choices, required=False)
    status = serializers.ChoiceField(
        Task.Status.choices,
        required=False,
        help_text="`done` or `cancelled` closes an open task (repeating the same status is harmless); a "
        "closed task cannot be reopened.",
    )


class TaskSerializer(SourceTypeMixin, OutputSerializer):
    customer_name = serializers.CharField(read_only=True)
    owner = serializers.EmailField(source="owner_email", allow_null=True, read_only=True)
    created_by = serializers.EmailField(
        source="created_by_email", allow_null=True, read_only=True, help_text="null: created by the system."
    )

    class Meta:
        model = Task
        fields = [
            "id",
            "customer",
            "customer_name",
            "owner",
            "type",
            "reason",
            "due_date",
            "priority",
            "status",
            "source_type",
            "source_id",
            "created_by",
            "created_at",
            "updated_at",
            "closed_at",
        ]
        read_only_fields = fields
