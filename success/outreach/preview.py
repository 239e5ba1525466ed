"""The dry run of a rule: whom it would act on now and what it would do to each, changing nothing.

    rule_preview(rule, *, at=None, limit=200) -> dict

    {"rule", "at", "limit", "truncated",
     "totals": {"matching", "in_cooldown", "listed", "acting", "skipped": {reason: n}, "emails",
                "contacts_skipped": {reason: n}, "tasks", "notifications", "surveys", "stage_changes",
                "playbooks"},
     "customers": [{"customer", "name", "skipped": null | "cooldown" | "cap",
                    "actions": [{"index", "action", "summary",
                                 "recipients": [{"contact", "email", "subject"}],          (email actions)
                                 "skipped_contacts": [{"contact", "email", "reason", "detail"}]}]}]}

Customers come in id order; the first `limit` are listed (`truncated` says there are more; `matching` and
`in_cooldown` count them all). A customer the rule acted on within its cooldown is skipped ("cooldown"); past
`cap_per_run` acting customers the rest are skipped ("cap"). For an email, each contact of the role is checked
against the contact ledger (a read-only crm.ledger.LedgerBatch, kind outreach: the same decisions as performing,
nothing locked or recorded): unsubscribed, bounced, complained or fatigued (contacted within
LEDGER_OUTREACH_MIN_DAYS) contacts are skipped with the reason; a customer without a contact of the role is skipped
for that action ("no contact"). Nothing is written: no row, no email, no task.
Statements: 2 for the audience and its counts (and 1 before them for the customers' time zones when a condition
is date-relative: success.outreach.conditions reads them, so the preview selects what the scan would), 1 for
contacts, 1 for templates, 1 per survey / playbook named, and 1 for the ledger's history (crm.ledger.LedgerBatch),
whatever the number of contacts.
"""

import datetime as dt
from collections import Counter, defaultdict

from django.db.models import Count, Q, Value
from django.utils import timezone

from crm.email_templates import template_render
from crm.ledger import LedgerBatch
from crm.models import Contact, EmailTemplate, LedgerEntry, LifecycleStage
from success.outreach.conditions import rule_audience
from success.outreach.models import OutreachRule
from success.outreach.selectors import acted_within
from success.playbooks.selectors import playbook_list
from surveys.selectors import survey_list

STAGES = dict(LifecycleStage.choices)


def _ledger_reason(reason: str) -> str:
    for short in ("unsubscribed", "bounced", "complained"):
        if reason.startswith(short):
            return short
    return "fatigued"


def _email(action, customer, contacts, templates, ledger):
    template = templates.get(action["template"])
    role = action["role"]
    chosen = [c for c in contacts if role == "all" or c.role == role]
    out = {"recipients": [], "skipped_contacts": []}
    if template is None:
        out["summary"] = f"Email template #{action['template']} no longer exists: nothing would be sent."
        return out
    for contact in chosen:
        reason = ledger.check(contact_id=contact.pk)
        if reason:
            out["skipped_contacts"].append(
                {"contact": contact.pk, "email": contact.email, "reason": _ledger_reason(reason), "detail": reason}
            )
        else:
            subject = template_render(template=template, customer=customer, contact=contact).subject
            out["recipients"].append({"contact": contact.pk, "email": contact.email, "subject": subject})
    who = "every contact" if role == "all" else f"the {role.replace('_', ' ')} contacts"
    if not chosen:
        out["summary"] = f'Email "{template.name}" to {who}: no contact of that role, nothing would be sent.'
    else:
        out["summary"] = (
            f'Email "{template.name}" to {who}: {len(out["recipients"])} would receive it, '
            f"{len(out['skipped_contacts'])} skipped."
        )
    return out


def _describe(action, customer, contacts, names, templates, ledger) -> dict:
    kind = action["action"]
    owner = customer.owner.email if customer.owner else "no owner (unassigned)"
    if kind == "email":
        return _email(action, customer, contacts, templates, ledger)
    if kind == "survey":
        name = names["survey"].get(action["survey"], f"#{action['survey']}")
        return {"summary": f'Invite the primary contact to the survey "{name}".'}
    if kind == "task":
        return {
            "summary": f'Task "{action["title"]}" ({action["action"]}, {action["priority"]}) for {owner}, due in '
            f"{action['due_in_days']} days."
        }
    if kind == "notify_owner":
        return {"summary": f'Notify {owner}: "{action["message"]}".'}
    if kind == "change_stage":
        if customer.lifecycle_stage == action["stage"]:
            return {"summary": f"Already in stage {STAGES[action['stage']]}: no change."}
        return {"summary": f"Move from {STAGES[customer.lifecycle_stage]} to {STAGES[action['stage']]}."}
    name = names["playbook"].get(action["playbook"], f"#{action['playbook']}")
    return {"summary": f'Start the playbook "{name}".'}


def rule_preview(rule: OutreachRule, *, at: dt.datetime | None = None, limit: int = 200) -> dict:
    at = at or timezone.now()
    audience = rule_audience(rule, at=at)
    if rule.cooldown_days:
        cooling = acted_within(rule=rule, since=at - dt.timedelta(days=rule.cooldown_days))
        counts = audience.aggregate(matching=Count("pk"), in_cooldown=Count("pk", filter=Q(cooling)))
        audience = audience.annotate(in_cooldown=cooling)
    else:
        counts = {"matching": audience.count(), "in_cooldown": 0}
        audience = audience.annotate(in_cooldown=Value(False))
    customers = list(audience.select_related("owner").order_by("pk")[: limit + 1])
    truncated = len(customers) > limit
    customers = customers[:limit]
    actions = rule.actions or []
    contacts_by_customer = defaultdict(list)
    ledger = None
    if any(a["action"] == "email" for a in actions) and customers:
        for contact in Contact.objects.filter(customer_id__in=[c.pk for c in customers]).order_by(
            "customer_id", "-is_primary", "email"
        ):
            contacts_by_customer[contact.customer_id].append(contact)
        ledger = LedgerBatch(
            contacts=[c for cs in contacts_by_customer.values() for c in cs], kind=LedgerEntry.Kind.OUTREACH, now=at
        )
    template_ids = {a["template"] for a in actions if a["action"] == "email"}
    templates = EmailTemplate.objects.in_bulk(template_ids) if template_ids else {}
    names = {
        "survey": dict(
            survey_list()
            .filter(pk__in=[a["survey"] for a in actions if a["action"] == "survey"])
            .values_list("pk", "name")
        )
        if any(a["action"] == "survey" for a in actions)
        else {},
        "playbook": dict(
            playbook_list()
            .filter(pk__in=[a["playbook"] for a in actions if a["action"] == "start_playbook"])
            .values_list("pk", "name")
        )
        if any(a["action"] == "start_playbook" for a in actions)
        else {},
    }
    totals = Counter()
    skipped, contacts_skipped = Counter(), Counter()
    rows = []
    for customer in customers:
        row = {"customer": customer.pk, "name": customer.name, "skipped": None, "actions": []}
        if customer.in_cooldown:
            row["skipped"] = "cooldown"
        elif rule.cap_per_run is not None and totals["acting"] >= rule.cap_per_run:
            row["skipped"] = "cap"
        if row["skipped"]:
            skipped[row["skipped"]] += 1
            rows.append(row)
            continue
        totals["acting"] += 1
        contacts = contacts_by_customer.get(customer.pk, [])
        for index, action in enumerate(actions):
            described = {"index": index, "action": action["action"], "recipients": [], "skipped_contacts": []}
            described |= _describe(action, customer, contacts, names, templates, ledger)
            totals["emails"] += len(described["recipients"])
            contacts_skipped.update(s["reason"] for s in described["skipped_contacts"])
            if action["action"] == "email" and not any(c for c in contacts if action["role"] in ("all", c.role)):
                contacts_skipped["no contact"] += 1
            totals[
                {
                    "task": "tasks",
                    "notify_owner": "notifications",
                    "survey": "surveys",
                    "change_stage": "stage_changes",
                    "start_playbook": "playbooks",
                }.get(action["action"], "_")
            ] += 1
            row["actions"].append(described)
        rows.append(row)
    return {
        "rule": rule.pk,
        "at": at,
        "limit": limit,
        "truncated": truncated,
        "totals": {
            "matching": counts["matching"],
            "in_cooldown": counts["in_cooldown"],
            "listed": len(rows),
            "acting": totals["acting"],
            "skipped": dict(skipped),
            "emails": totals["emails"],
            "contacts_skipped": dict(contacts_skipped),
            "tasks": totals["tasks"],
            "notifications": totals["notifications"],
            "surveys": totals["surveys"],
            "stage_changes": totals["stage_changes"],
            "playbooks": totals["playbooks"],
        },
        "customers": rows,
    }
