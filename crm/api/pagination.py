"""Keyset (cursor) pagination with ordering, for every list endpoint of the API.

Why not DRF's CursorPagination: it keeps only the first ordering field in the cursor and walks ties with
an OFFSET, so pages over a non-unique field (ARR, renewal date) get slower the more rows share a value. Here
the ordering always ends with the primary key (same direction as the field), the cursor holds the values of
*every* ordering key of the boundary row, and the next page is "rows strictly after that tuple":

    (arr < 500) OR (arr = 500 AND id < 1234)          -- ordering=-arr, after the row (500, 1234)

so each page is one indexed query whatever its depth, and no row is skipped or repeated across pages even
when many rows share a value. NULLs sort as if larger than any value (last ascending, first descending:
PostgreSQL's default, made explicit so SQLite agrees).

Views declare `ordering` (the default, e.g. ("name",) or ("-occurred_at",)) and `ordering_fields` (what
`?ordering=` may name; empty: the parameter is refused). Bad `cursor`, `page_size` or `ordering` -> 400.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
from decimal import Decimal
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import F, Q
from django.utils import timezone
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

BIGINT_MAX = 2**63 - 1


def _invalid_cursor(
    message="Invalid cursor. Use the `next` or `previous` link of a page as it was returned.",
):
    return ValidationError({"cursor": [message]})


class CursorPagination(BasePagination):
    cursor_query_param = "cursor"
    page_size_query_param = "page_size"
    ordering_query_param = "ordering"
    page_size = 50
    max_page_size = 500

    # --- request parsing ------------------------------------------------------------------------------------

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None or raw == "":
            return self.page_size
        try:
            size = int(raw)
        except (TypeError, ValueError):
            size = 0
        if not 1 <= size <= self.max_page_size:
            raise ValidationError({self.page_size_query_param: [f"Must be an integer from 1 to {self.max_page_size}."]})
        return size

    @staticmethod
    def _view_ordering(view) -> tuple[tuple[str, ...], tuple[str, ...]]:
        default = tuple(getattr(view, "ordering", None) or ("-id",))
        allowed = tuple(getattr(view, "ordering_fields", None) or ())
        return default, allowed

    def get_ordering(self, request, queryset, view) -> list[tuple[str, bool]]:
        """[(model field name, descending), ...], always ending with the primary key."""
        default, allowed = self._view_ordering(view)
        raw = request.query_params.get(self.ordering_query_param)
        terms = list(default)
        if raw not in (None, ""):
            if not allowed:
                raise ValidationError({self.ordering_query_param: ["This list has a fixed order."]})
            term = raw.strip()
            if term.lstrip("-") not in allowed or term.count("-") > 1:
                choices = ", ".join(allowed)
                raise ValidationError(
                    {
                        self.ordering_query_param: [
                            f"Unknown ordering field {raw[:100]!r}. Use one of: {choices} (prefix '-' for descending)."
                        ]
                    }
                )
            terms = [term]
        model = queryset.model
        pk_name = model._meta.pk.name
        keys: list[tuple[str, bool]] = []
        seen = set()
        for term in terms:
            name, desc = term.lstrip("-"), term.startswith("-")
            name = pk_name if name == "pk" else name
            if name in seen:
                continue
            seen.add(name)
            keys.append((name, desc))
            if name == pk_name:
                break
        if keys[-1][0] != pk_name:
            keys.append((pk_name, keys[0][1]))
        return keys

    # --- cursor encoding ------------------------------------------------------------------------------------

    @staticmethod
    def _to_json(value: Any) -> Any:
        if value is None or isinstance(value, bool | int | str):
            return value
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, datetime.date | datetime.datetime):
            return value.isoformat()
        return str(value)

    def encode_cursor(self, position: list[Any], reverse: bool) -> str:
        token = {"o": self._ordering_token(), "p": [self._to_json(v) for v in position]}
        if reverse:
            token["r"] = 1
        raw = json.dumps(token, separators=(",", ":")).encode()
        encoded = base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
        return replace_query_param(self.base_url, self.cursor_query_param, encoded)

    def _ordering_token(self) -> str:
        return ",".join(("-" if desc else "") + name for name, desc in self.keys)

    def decode_cursor(self, request, model) -> tuple[list[Any], bool] | None:
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None or encoded == "":
            return None
        try:
            if len(encoded) > 2000:
                raise ValueError
            padded = encoded + "=" * (-len(encoded) % 4)
            token = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        except (ValueError, UnicodeError, binascii.Error):
            raise _invalid_cursor() from None
        if not isinstance(token, dict) or not isinstance(token.get("p"), list):
            raise _invalid_cursor()
        if token.get("o") != self._ordering_token():
            raise _invalid_cursor("This cursor belongs to a list in another order; keep `ordering` unchanged.")
        raw_position = token["p"]
        if len(raw_position) != len(self.keys):
            raise _invalid_cursor()
        position = []
        for (name, _desc), raw in zip(self.keys, raw_position, strict=True):
            field = model._meta.get_field(name)
            if raw is None:
                if not field.null:
                    raise _invalid_cursor()
                position.append(None)
                continue
            if isinstance(raw, bool) or not isinstance(raw, int | str):
                raise _invalid_cursor()
            if isinstance(raw, str) and ("\x00" in raw or len(raw) > 1000):
                raise _invalid_cursor()
            if isinstance(raw, int) and abs(raw) > BIGINT_MAX:
                raise _invalid_cursor()
            try:
                value = field.to_python(raw)
                field.run_validators(value)
            except (DjangoValidationError, ValueError, TypeError, ArithmeticError):
                raise _invalid_cursor() from None
            if isinstance(value, int) and abs(value) > BIGINT_MAX:
                raise _invalid_cursor()
            if isinstance(value, datetime.datetime) and timezone.is_naive(value):
                value = timezone.make_aware(value, datetime.UTC)
            position.append(value)
        return position, bool(token.get("r"))

    # --- the query ------------------------------------------------------------------------------------------

    @staticmethod
    def _order_expression(name: str, desc: bool, nullable: bool):
        if not nullable:
            return F(name).desc() if desc else F(name).asc()
        # NULL as the largest value, on every database.
        return F(name).desc(nulls_first=True) if desc else F(name).asc(nulls_last=True)

    @staticmethod
    def _after(name: str, desc: bool, value: Any, nullable: bool) -> Q | None:
        """Rows strictly after `value` on this key in the (name, desc) order; None: no row can be."""
        if value is None:
            # NULL is the largest value: nothing follows it ascending; every non-NULL follows it descending.
            return Q(**{f"{name}__isnull": False}) if desc else None
        condition = Q(**{f"{name}__lt" if desc else f"{name}__gt": value})
        if nullable and not desc:
            condition |= Q(**{f"{name}__isnull": True})
        return condition

    @staticmethod
    def _equal(name: str, value: Any) -> Q:
        return Q(**{f"{name}__isnull": True}) if value is None else Q(**{name: value})

    def _keyset_filter(self, model, position: list[Any], reverse: bool) -> Q | None:
        branches: list[Q] = []
        prefix = Q()
        for (name, desc), value in zip(self.keys, position, strict=True):
            nullable = model._meta.get_field(name).null
            after = self._after(name, desc != reverse, value, nullable)
            if after is not None:
                branches.append(prefix & after)
            prefix &= self._equal(name, value)
        if not branches:
            return None
        condition = branches[0]
        for branch in branches[1:]:
            condition |= branch
        # A redundant bound on the first key lets the database start the index scan at the cursor.
        first_name, first_desc = self.keys[0]
        first_value = position[0]
        first_nullable = model._meta.get_field(first_name).null
        if first_value is not None and len(self.keys) > 1:
            if first_desc != reverse:
                condition &= Q(**{f"{first_name}__lte": first_value})
            elif not first_nullable:
                condition &= Q(**{f"{first_name}__gte": first_value})
        return condition

    def _position(self, obj) -> list[Any]:
        return [getattr(obj, obj._meta.get_field(name).attname) for name, _desc in self.keys]

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.base_url = request.build_absolute_uri()
        self.page_size = self.get_page_size(request)
        model = queryset.model
        try:
            self.keys = self.get_ordering(request, queryset, view)
            for name, _desc in self.keys:
                model._meta.get_field(name)
        except FieldDoesNotExist as exc:  # a view misconfiguration, not the caller's fault
            raise RuntimeError(f"{view.__class__.__name__}: cannot order by {exc}") from exc
        cursor = self.decode_cursor(request, model)
        position, reverse = cursor if cursor else (None, False)

        order = [
            self._order_expression(name, desc != reverse, model._meta.get_field(name).null) for name, desc in self.keys
        ]
        queryset = queryset.order_by(*order)
        if position is not None:
            condition = self._keyset_filter(model, position, reverse)
            queryset = queryset.none() if condition is None else queryset.filter(condition)

        rows = list(queryset[: self.page_size + 1])
        has_more = len(rows) > self.page_size
        rows = rows[: self.page_size]
        if reverse:
            rows.reverse()
            self.has_previous, self.has_next = has_more, True
        else:
            self.has_previous, self.has_next = position is not None, has_more
        self.page = rows
        self.first_position = self._position(rows[0]) if rows else position
        self.last_position = self._position(rows[-1]) if rows else position
        return rows

    # --- the response ---------------------------------------------------------------------------------------

    def get_next_link(self) -> str | None:
        if not self.has_next or self.last_position is None:
            return None
        return self.encode_cursor(self.last_position, reverse=False)

    def get_previous_link(self) -> str | None:
        if not self.has_previous:
            return None
        if self.first_position is None:
            return remove_query_param(self.base_url, self.cursor_query_param)
        return self.encode_cursor(self.first_position, reverse=True)

    def get_paginated_response(self, data):
        return Response({"next": self.get_next_link(), "previous": self.get_previous_link(), "results": data})

    def get_paginated_response_schema(self, schema):
        example = f"https://crm.example.com/api/v1/customers/?{self.cursor_query_param}=eyJvIjoibmFtZSxpZCJ9"
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "next": {
                    "type": "string",
                    "nullable": True,
                    "format": "uri",
                    "description": "The next page; null on the last page.",
                    "example": example,
                },
                "previous": {
                    "type": "string",
                    "nullable": True,
                    "format": "uri",
                    "description": "The previous page; null on the first page.",
                    "example": None,
                },
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        parameters = [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Opaque position from a page's `next` or `previous` link. Invalid -> 400.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Rows per page, 1 to {self.max_page_size} (default {self.page_size}). "
                "Out of range -> 400.",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size},
            },
        ]
        default, allowed = self._view_ordering(view)
        if allowed:
            parameters.append(
                {
                    "name": self.ordering_query_param,
                    "required": False,
                    "in": "query",
                    "description": f"Sort by one of the fields (prefix '-' for descending); default "
                    f"`{','.join(default)}`. Ties are broken by id, so cursors stay exact. Unknown field "
                    "-> 400.",
                    "schema": {
                        "type": "string",
                        "enum": [v for name in allowed for v in (name, f"-{name}")],
                    },
                }
            )
        return parameters
