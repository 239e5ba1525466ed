"""Signals crm sends so the apps above it can react without crm importing them (STYLE.md "Dependencies").

`customer_arr_changed` is sent inside the transaction of `customer_create` / `customer_update` (the customer API,
its upsert by external id used by the billing sync, the admin) after the new ARR is saved. A receiver that raises
(e.g. a ValidationError about `churn_reason`) rolls the whole change back. Keyword arguments:

    customer        the saved Customer (its `arr` is already the new value)
    old, new        Decimal ARR before and after
    actor           the user who made the change (None: the system)
    effective_date  the date the change takes effect
    churn_reason    one of crm.churn.ChurnReason, or "" (required by revenue when ARR goes to 0)
    churn_note      free text, may be ""


`customer_stage_entered` is sent after the transaction of `customer_create` (the new customer's stage) or of a
`customer_update` that changed the lifecycle stage commits, so a receiver's failure cannot undo the change.
Keyword arguments: customer_id, stage (the stage entered), previous_stage (the stage left; None for a new
customer), event_id (the id of the timeline event that records the entry: customer.created or
customer.stage_changed; receivers key "once per entry" on it). Receivers take **kwargs, so arguments added later
do not break them.
"""

import django.dispatch

customer_arr_changed = django.dispatch.Signal()

# `timeline_recorded(events=[TimelineEvent, ...])` is sent by crm.timeline right after it wrote events (inside the
# caller's transaction: a receiver that must not act on a rolled-back change defers with on_commit). Health
# recomputes customers whose tickets, surveys, notes, tasks or stage changed from a receiver of it.
timeline_recorded = django.dispatch.Signal()

customer_stage_entered = django.dispatch.Signal()
