"""How the API answers errors (REST_FRAMEWORK["EXCEPTION_HANDLER"]), and their shapes in the OpenAPI schema.

    django ValidationError (services, full_clean)  -> 400 {"field": ["message"], "non_field_errors": [...]}
    django PermissionDenied (e.g. a support agent changing ARR)      -> 403 {"detail": "..."}
    Http404 / ObjectDoesNotExist                                     -> 404 {"detail": "..."}
    IntegrityError (a concurrent write won a unique constraint)      -> 409 {"detail": "..."}
    DataError (a value the database cannot store)                    -> 400 {"non_field_errors": ["..."]}
    DRF ValidationError (serializers, filters)                       -> 400, flattened (below)
    ParseError (a body that is not JSON)                             -> 400 {"non_field_errors": ["JSON parse ..."]}
    any other APIException (401, 403, 404, 405, 415, ...)            -> {"detail": "..."}

Every 400 has one shape: an object whose keys are dotted paths to the input that is wrong and whose values are
lists of messages, e.g. {"name": ["..."], "tier.0": ["..."], "opening_hours.1.start": ["..."],
"non_field_errors": ["..."]}. Nested serializers and lists are flattened into the path (DRF would answer
{"tier": {"0": [...]}}), so a client never has to walk a tree to show the messages.

Every error rolls the request's transaction back, so invalid input changes nothing.
"""

import logging

from django.core.exceptions import NON_FIELD_ERRORS, ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = (
        "The request conflicts with a concurrent change (e.g. the same external_id or email was just "
        "created by another request). Nothing was changed; fetch the current state and retry."
    )
    default_code = "conflict"


def validation_error_detail(exc: DjangoValidationError) -> dict[str, list[str]]:
    """A django ValidationError as DRF's per-field body."""
    non_field_key = api_settings.NON_FIELD_ERRORS_KEY
    if hasattr(exc, "error_dict"):
        return {
            (non_field_key if field == NON_FIELD_ERRORS else field): messages
            for field, messages in exc.message_dict.items()
        }
    return {non_field_key: exc.messages}


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(validation_error_detail(exc))
    elif isinstance(exc, IntegrityError):
        logger.warning("API request hit an integrity error: %s", exc)
        exc = Conflict()
    elif isinstance(exc, DataError):
        logger.warning("API request carried a value the database refused: %s", exc)
        exc = exceptions.ValidationError(
            {api_settings.NON_FIELD_ERRORS_KEY: ["A value is out of range or not storable."]}
        )
    elif isinstance(exc, ObjectDoesNotExist):
        exc = exceptions.NotFound()
    elif isinstance(exc, exceptions.ParseError):
        exc = exceptions.ValidationError({api_settings.NON_FIELD_ERRORS_KEY: [exc.detail]})
    if isinstance(exc, exceptions.ValidationError):
        exc.detail = flatten_errors(exc.detail)
    return drf_exception_handler(exc, context)


def flatten_errors(detail) -> dict[str, list[str]]:
    """DRF's error tree ({"tier": {"0": [...]}}, {"hours": [{}, {"start": [...]}]}, ["..."]) as one level:
    {"tier.0": [...], "hours.1.start": [...]}; messages not about a field go under non_field_errors."""
    flat: dict[str, list] = {}

    def walk(node, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list | tuple):
            if all(not isinstance(item, dict | list | tuple) for item in node):
                flat.setdefault(path or api_settings.NON_FIELD_ERRORS_KEY, []).extend(node)
            else:
                for index, item in enumerate(node):
                    if item:
                        walk(item, f"{path}.{index}" if path else str(index))
        else:
            flat.setdefault(path or api_settings.NON_FIELD_ERRORS_KEY, []).append(node)

    walk(detail, "")
    return flat


# --- Schema -------------------------------------------------------------------------------------------


class ErrorDetailSerializer(serializers.Serializer):
    """`{"detail": "..."}`: the body of 401, 403, 404 and 409 answers."""

    detail = serializers.CharField(help_text="What went wrong, for a person to read.")


class ValidationErrorSerializer(serializers.Serializer):
    """Schema-only: the 400 body, a list of messages per field (mapped by the extension below)."""


class ValidationErrorSchema(OpenApiSerializerExtension):
    target_class = ValidationErrorSerializer

    def get_name(self, auto_schema, direction):
        return "ValidationError"

    def map_serializer(self, auto_schema, direction):
        return {
            "type": "object",
            "description": "Messages per input, keyed by the input's path: a field or query parameter "
            "(`name`), an item of a list (`tier.0`), a field of a nested object or of a list's item "
            "(`opening_hours.1.start`). `non_field_errors` holds errors about the request as a whole, a body "
            "that is not valid JSON included. Every 400 of the API has this shape. Nothing was changed.",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
            "example": {
                "lifecycle_stage": ['"dormant" is not a valid choice.'],
                "arr": ["Ensure this value is greater than or equal to 0."],
                "opening_hours.0.start": ["This field is required."],
            },
        }


def _detail(description: str, example: str) -> OpenApiResponse:
    return OpenApiResponse(
        response=ErrorDetailSerializer,
        description=description,
        examples=[OpenApiExample("error", value={"detail": example}, response_only=True)],
    )


ERROR_400 = OpenApiResponse(
    response=ValidationErrorSerializer,
    description="Invalid input: messages per field. Unknown or read-only fields are refused. Nothing changed.",
)
ERROR_401 = _detail(
    "No credentials, or a malformed, unknown or revoked API key.",
    "Authentication credentials were not provided.",
)
ERROR_403 = _detail(
    "The key's role may not do this (e.g. read_only writing, a support agent changing arr, owner or tier).",
    "Your role cannot change a customer's arr.",
)
ERROR_404 = _detail("No such object.", "No Customer matches the given query.")
ERROR_409 = _detail("A concurrent request created or changed the same object first.", Conflict.default_detail)

READ_ERRORS = {401: ERROR_401, 403: ERROR_403}
LIST_ERRORS = {400: ERROR_400, 401: ERROR_401, 403: ERROR_403}
DETAIL_ERRORS = {401: ERROR_401, 403: ERROR_403, 404: ERROR_404}
WRITE_ERRORS = {400: ERROR_400, 401: ERROR_401, 403: ERROR_403, 409: ERROR_409}
