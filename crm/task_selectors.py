"""Reads on CSM tasks."""

from django.db.models import F, QuerySet

from crm.models import Task


def task_list() -> QuerySet[Task]:
    """Tasks with the customer's name, owner and creator emails and the source's type: one query per page."""
    return Task.objects.annotate(
        customer_name=F("customer__name"),
        owner_email=F("owner__email"),
        created_by_email=F("created_by__email"),
        source_app_label=F("source_type__app_label"),
        source_model=F("source_type__model"),
    )


def task_get(*, pk: int) -> Task:
    return task_list().get(pk=pk)
