"""REST API v1 for CSM tasks: `/api/v1/tasks/`. Reads from crm.task_selectors, writes via crm.task_services."""

from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.response import Response

from crm import task_selectors as selectors
from crm import task_services as services
from crm.api.errors import DETAIL_ERRORS, ERROR_404, LIST_ERRORS, WRITE_ERRORS
from crm.api.task_serializers import TaskInputSerializer, TaskSerializer, TaskUpdateInputSerializer
from crm.api.views import ApiViewSet, location_header
from crm.models import Task
from crm.task_filters import TaskFilterSet


@extend_schema(tags=["tasks"])
class TaskViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """CSM tasks (calls to action). An open task with the same customer, type and reason exists once."""

    permission_model = Task

    serializer_class = TaskSerializer
    filterset_class = TaskFilterSet
    ordering = ("due_date",)
    ordering_fields = ("due_date", "created_at", "updated_at")

    def get_queryset(self):
        return selectors.task_list()

    @extend_schema(
        summary="List tasks",
        responses={200: TaskSerializer(many=True), **LIST_ERRORS},
        description="Default order: due date (tasks without one last), then id.",
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Get a task", responses={200: TaskSerializer, **DETAIL_ERRORS})
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Create a task (idempotent while it is open)",
        request=TaskInputSerializer,
        responses={
            201: OpenApiResponse(TaskSerializer, description="Created."),
            200: OpenApiResponse(
                TaskSerializer,
                description="An open task with the same customer, type and reason already exists: it is "
                "returned unchanged (the other fields of the request are not applied; PATCH it to change "
                "them). Retrying a create is therefore safe.",
            ),
            **WRITE_ERRORS,
        },
    )
    def create(self, request, *args, **kwargs):
        serializer = TaskInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        task, created = services.task_create(actor=request.user, **serializer.validated_data)
        data = TaskSerializer(selectors.task_get(pk=task.pk)).data
        if created:
            return Response(
                data, status=status.HTTP_201_CREATED, headers=location_header(request, "task-detail", task.pk)
            )
        return Response(data, status=status.HTTP_200_OK)

    @extend_schema(
        summary="Update or close a task",
        request=TaskUpdateInputSerializer(partial=True),
        responses={200: TaskSerializer, **WRITE_ERRORS, 404: ERROR_404},
        description="`status: done|cancelled` closes the task; the other fields update it. Both in one "
        "request apply together or not at all.",
    )
    def partial_update(self, request, *args, **kwargs):
        task = self.get_object()
        serializer = TaskUpdateInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        new_status = data.pop("status", None)
        with transaction.atomic():
            if data:
                task = services.task_update(task=task, actor=request.user, **data)
            if new_status is not None and new_status != task.status:
                task = services.task_close(task=task, status=new_status, actor=request.user)
        return Response(TaskSerializer(selectors.task_get(pk=task.pk)).data)
