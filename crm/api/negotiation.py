"""Content negotiation (REST_FRAMEWORK["DEFAULT_CONTENT_NEGOTIATION_CLASS"]): an unknown `?format=` is the
client's mistake about a query parameter, so it is a 400 naming `format` (DRF answers 404 as if the object did
not exist). An unknown format suffix in the path (`/contacts/1.xml/`) names no URL: it stays a 404."""

from django.http import Http404
from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import DefaultContentNegotiation


class ContentNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except Http404:
            if format_suffix:
                raise
            requested = request.query_params.get(self.settings.URL_FORMAT_OVERRIDE)
            formats = ", ".join(sorted({renderer.format for renderer in renderers}))
            message = f'"{requested}" is not a format of this endpoint; use one of: {formats}.'
            raise ValidationError({"format": [message]}) from None
