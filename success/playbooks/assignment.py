"""Who does a playbook step assigned to "a support agent", picked when the run starts (a person may reassign it
later):

1. the active support agent who handled the customer's tickets most in the last SUPPORT_WINDOW_DAYS days
   (replied to or wrote a note on them, or had them assigned: `tickets.selectors.ticket_handler_counts`); a tie
   goes to the one active on them most recently;
2. else the active support agent with the fewest open tasks (ties: the lowest id, so the pick is stable);
3. else the owner CSM.

"Support agent" is the role of `accounts.roles` (the `support_agent` group, not also a stronger role). Every
pick says who and why; the service writes that into the step's timeline event.
"""

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Q

from accounts.roles import SUPPORT_AGENT, role_users
from crm.models import Customer, Task
from tickets.selectors import ticket_handler_counts

SUPPORT_WINDOW_DAYS = 90


class PickRule:
    TICKETS = "handled_tickets"
    FEWEST_TASKS = "fewest_open_tasks"
    OWNER = "owner_csm"


@dataclass(frozen=True)
class AgentPick:
    user: object | None
    rule: str
    why: str


def pick_support_agent(*, customer: Customer, now: dt.datetime) -> AgentPick:
    agents = role_users(SUPPORT_AGENT)
    handled = ticket_handler_counts(customer_id=customer.pk, since=now - dt.timedelta(days=SUPPORT_WINDOW_DAYS))
    if handled:
        active = {user.pk: user for user in agents.filter(pk__in=list(handled))}
        ranked = sorted(active, key=lambda pk: (handled[pk][0], handled[pk][1], -pk), reverse=True)
        if ranked:
            user = active[ranked[0]]
            count = handled[user.pk][0]
            return AgentPick(
                user,
                PickRule.TICKETS,
                f"handled {count} of {customer.name}'s ticket{'s' if count != 1 else ''} "
                f"in the last {SUPPORT_WINDOW_DAYS} days, more than any other support agent",
            )
    user = (
        agents.annotate(open_tasks=Count("tasks", filter=Q(tasks__status=Task.Status.OPEN)))
        .order_by("open_tasks", "pk")
        .first()
    )
    if user is not None:
        return AgentPick(
            user,
            PickRule.FEWEST_TASKS,
            f"no support agent handled {customer.name}'s tickets in the last {SUPPORT_WINDOW_DAYS} days; "
            f"the support agent with the fewest open tasks ({user.open_tasks})",
        )
    return AgentPick(customer.owner, PickRule.OWNER, "no active support agent: the owner CSM")
