"""OpenAPI postprocessing (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]): the schema states every answer the API
can really give, so generated clients and schemathesis agree with the server.

- Every operation documents the error answers crm.api.errors produces for it, each pointing at one component:
  400 -> ValidationError ({"dotted.path": ["message"]}), 401/403/404/409/415 -> ErrorDetail ({"detail": "..."}).
  401 and 403 on every authenticated operation, 400 where it takes query parameters or a body, 404 where its path
  names an object, 409 on every write (a concurrent write can win a unique constraint), 415 where it takes a body.
- `format: time` means an RFC 3339 time *with its offset* to JSON Schema validators; the API reads and writes
  local wall-clock times ("09:00" / "09:00:00"), so time fields are described by a pattern instead.
"""

ERROR_DETAIL = {"$ref": "#/components/schemas/ErrorDetail"}
VALIDATION_ERROR = {"$ref": "#/components/schemas/ValidationError"}
WRITES = {"post", "put", "patch", "delete"}
METHODS = WRITES | {"get", "head", "options", "trace"}
TIME_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?$"

DESCRIPTIONS = {
    400: "Invalid input: messages per input path (`name`, `tiers.0`, `opening_hours.1.start`, "
    "`non_field_errors`). Nothing changed.",
    401: "No credentials, or a malformed, unknown or revoked API key.",
    403: "The key's role may not do this.",
    404: "No such object.",
    409: "A concurrent request created or changed the same object first. Nothing changed; retry.",
    415: "Unsupported Content-Type: send application/json.",
}


def _error(code: int) -> dict:
    return {
        "description": DESCRIPTIONS[code],
        "content": {"application/json": {"schema": VALIDATION_ERROR if code == 400 else ERROR_DETAIL}},
    }


def _expected_errors(path: str, method: str, operation: dict) -> set[int]:
    codes = set()
    if operation.get("security") and {} not in operation["security"]:
        codes |= {401, 403}
    takes_body = "requestBody" in operation
    if takes_body or any(p.get("in") == "query" for p in operation.get("parameters", [])):
        codes.add(400)
    if "{" in path:
        codes.add(404)
    if method in WRITES:
        codes.add(409)
    if takes_body:
        codes.add(415)
    return codes


def _times_as_patterns(node) -> None:
    if isinstance(node, dict):
        if node.get("type") == "string" and node.get("format") == "time":
            del node["format"]
            node["pattern"] = TIME_PATTERN
            node.setdefault("example", "09:00")
        for value in node.values():
            _times_as_patterns(value)
    elif isinstance(node, list):
        for value in node:
            _times_as_patterns(value)


def document_errors(result, generator, request, public):
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for code in sorted(_expected_errors(path, method, operation)):
                responses.setdefault(str(code), _error(code))
    _times_as_patterns(result)
    return result
