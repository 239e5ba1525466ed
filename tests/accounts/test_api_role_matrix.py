"""The role matrix: every operation of the OpenAPI schema, called by every role (admin, csm, support_agent,
read_only through their API keys) and by an anonymous client, is allowed or refused as the roles say
(accounts/roles.py). Operations come from the schema, so an endpoint added later is walked without editing this
file: a read is expected open to every role, a write must be listed in WRITES below (a new write endpoint fails
here until someone decides who may call it). Allowed means the answer is neither 401 nor 403 (the body is empty,
so a 400 is fine); refused means 403 for a role and 401 for anonymous."""

from urllib.parse import quote

from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from surveys.models import Survey
from tests.test_api_fuzz import fill, ids

ROLES = ("admin", "csm", "support_agent", "read_only")
EVERY_ROLE = frozenset(ROLES)
ADMIN_CSM = frozenset({"admin", "csm"})
STAFF_WRITERS = frozenset({"admin", "csm", "support_agent"})
ADMIN_ONLY = frozenset({"admin"})

# Who may call each write (POST, PUT, PATCH, DELETE). Reads (GET) are open to every role.
WRITES = {
    ("/api/v1/customers/", "post"): ADMIN_CSM,
    ("/api/v1/customers/{id}/", "put"): STAFF_WRITERS,  # a support agent may not change arr, owner or tier
    ("/api/v1/customers/{id}/", "patch"): STAFF_WRITERS,
    ("/api/v1/customers/by-external-id/{external_id}/", "put"): STAFF_WRITERS,
    ("/api/v1/customers/{customer_id}/notes/", "post"): STAFF_WRITERS,
    ("/api/v1/contacts/", "post"): STAFF_WRITERS,
    ("/api/v1/contacts/{id}/", "patch"): STAFF_WRITERS,
    ("/api/v1/contacts/{id}/", "delete"): ADMIN_CSM,
    ("/api/v1/tasks/", "post"): STAFF_WRITERS,
    ("/api/v1/tasks/{id}/", "patch"): STAFF_WRITERS,
    ("/api/v1/usage-events/", "post"): ADMIN_CSM,  # the product's integration key has the admin or csm role
    ("/api/v1/arr-movements/", "post"): ADMIN_CSM,  # revenue: ARR changes are commercial (like arr on customers)
    ("/api/v1/customers/{customer_id}/health/overrides/", "post"): ADMIN_CSM,  # health: CSMs override scores
    ("/api/v1/customers/{customer_id}/health/overrides/{id}/end/", "post"): ADMIN_CSM,
    ("/api/v1/qbrs/", "post"): ADMIN_CSM,  # QBRs: the CSM's meetings with the customer (invites go out)
    ("/api/v1/qbrs/{id}/schedule/", "post"): ADMIN_CSM,
    ("/api/v1/qbrs/{id}/reschedule/", "post"): ADMIN_CSM,
    ("/api/v1/qbrs/{id}/cancel/", "post"): ADMIN_CSM,
    ("/api/v1/qbrs/{id}/hold/", "post"): ADMIN_CSM,
    ("/api/v1/qbrs/{id}/prep/", "post"): ADMIN_CSM,
    ("/api/v1/tickets/", "post"): STAFF_WRITERS,
    ("/api/v1/tickets/{id}/", "patch"): STAFF_WRITERS,
    ("/api/v1/tickets/{id}/merge/", "post"): STAFF_WRITERS,
    ("/api/v1/tickets/{ticket_id}/messages/", "post"): STAFF_WRITERS,
    ("/api/v1/tickets/{ticket_id}/status-changes/", "post"): STAFF_WRITERS,
    # SLA configuration (calendars, policies) is for admins: CSMs and support agents read it.
    ("/api/v1/business-calendars/", "post"): ADMIN_ONLY,
    ("/api/v1/business-calendars/{id}/", "put"): ADMIN_ONLY,
    ("/api/v1/business-calendars/{id}/", "patch"): ADMIN_ONLY,
    ("/api/v1/business-calendars/{id}/", "delete"): ADMIN_ONLY,
    ("/api/v1/business-calendars/by-name/{name}/", "put"): ADMIN_ONLY,
    ("/api/v1/sla-policies/", "post"): ADMIN_ONLY,
    ("/api/v1/sla-policies/{id}/", "put"): ADMIN_ONLY,
    ("/api/v1/sla-policies/{id}/", "patch"): ADMIN_ONLY,
    ("/api/v1/sla-policies/{id}/", "delete"): ADMIN_ONLY,
    ("/api/v1/sla-policies/by-name/{name}/", "put"): ADMIN_ONLY,
    ("/api/v1/inbound/email/", "post"): STAFF_WRITERS,
    ("/api/v1/surveys/", "post"): ADMIN_CSM,
    ("/api/v1/surveys/{id}/", "patch"): ADMIN_CSM,
    ("/api/v1/surveys/{id}/invitations/", "post"): ADMIN_CSM,
    ("/api/v1/surveys/{id}/campaigns/", "post"): ADMIN_CSM,
    ("/api/v1/playbook-runs/", "post"): ADMIN_CSM,  # starting a playbook is CSM work (tasks, emails, surveys)
    ("/api/v1/playbook-runs/{run_id}/steps/{id}/", "patch"): ADMIN_CSM,
    ("/api/v1/playbook-runs/{id}/cancel/", "post"): ADMIN_CSM,
    ("/api/v1/playbooks/import/", "post"): ADMIN_CSM,  # templates as config as code: CSMs edit playbooks
    # Outreach: rules and email templates are edited by admins; everyone who reads them may preview them.
    ("/api/v1/outreach-rules/", "post"): ADMIN_ONLY,
    ("/api/v1/outreach-rules/{id}/", "put"): ADMIN_ONLY,
    ("/api/v1/outreach-rules/{id}/", "patch"): ADMIN_ONLY,
    ("/api/v1/outreach-rules/{id}/", "delete"): ADMIN_ONLY,
    ("/api/v1/outreach-rules/{id}/preview/", "post"): EVERY_ROLE,
    ("/api/v1/email-templates/", "post"): ADMIN_ONLY,
    ("/api/v1/email-templates/{id}/", "put"): ADMIN_ONLY,
    ("/api/v1/email-templates/{id}/", "patch"): ADMIN_ONLY,
    ("/api/v1/email-templates/{id}/", "delete"): ADMIN_ONLY,
    ("/api/v1/email-templates/{id}/preview/", "post"): EVERY_ROLE,
}
METHODS = ("get", "post", "put", "patch", "delete")


def is_public(operation: dict) -> bool:
    return not operation.get("security") or {} in operation["security"]


def test_every_operation_with_every_role(api_client_for):
    from io import StringIO

    from django.core.management import call_command

    call_command("seed_demo", "--customers", 12, "--tickets", 12, "--surveys", 30, "--seed", 9, stdout=StringIO())
    schema = SchemaGenerator().get_schema(request=None, public=True)
    clients = {role: api_client_for(role) for role in ROLES}
    clients["anonymous"] = APIClient()
    survey = Survey.objects.filter(is_active=True).order_by("pk").first()
    started = clients["admin"].post(f"/api/v1/surveys/{survey.pk}/campaigns/", {"tiers": ["enterprise"]})
    assert started.status_code in (200, 202), started.json()  # a campaign to read
    known = ids()
    # Names are path segments: quoted (demo policies are named like "Urgent (24/7)").
    known |= {key: quote(known[key], safe="") for key in ("calendar_name", "policy_name", "external_id")}
    wrong, cells, unlisted = [], 0, []
    operations = [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]
    # Refusals first, then the roles allowed, so a delete that succeeds comes after every refusal of it.
    for path, method, operation in operations:
        if method == "get":
            allowed = EVERY_ROLE
        elif (path, method) in WRITES:
            allowed = WRITES[path, method]
        else:
            unlisted.append((path, method))
            continue
        url = fill(path, known)
        public = is_public(operation)
        order = ["anonymous", *sorted(EVERY_ROLE - allowed), *sorted(allowed)]
        for who in order:
            cells += 1
            client = clients[who]
            if method == "get":
                response = client.get(url)
            else:
                response = client.generic(method.upper(), url, "{}", content_type="application/json")
            status = response.status_code
            if who == "anonymous":
                expected = "allowed" if public else 401
            else:
                expected = "allowed" if who in allowed else 403
            got = "allowed" if status not in (401, 403) else status
            if status >= 500 or got != expected:
                wrong.append((method.upper(), path, who, status, expected))
    assert unlisted == [], "new write endpoints: add them to WRITES with the roles that may call them"
    assert wrong == [], "\n".join(map(str, wrong))
    assert cells >= len(operations) * 5 and len(operations) >= 61
