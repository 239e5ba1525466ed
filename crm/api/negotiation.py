"""Content negotiation (REST_FRAMEWORK["DEFAULT_CONTENT_NEGOTIATION_CLASS"]): an unknown `?format=` is the
client's mistake about a query parameter, so it is a 400 naming `format` (DRF answers 404 as if the object did
not exist)."""

from django.http import Http404
from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import DefaultContentNegotiation


class ContentNegotiation(DefaultContentNegotiation):
    def filter_renderers(self, renderers, format):
        try:
            return super().filter_renderers(renderers, format)
        except Http404:
            formats = ", ".join(sorted({renderer.format for renderer in renderers}))
            message = f'"{format}" is not a format of this endpoint; use one of: {formats}.'
            raise ValidationError({"format": [message]}) from None
