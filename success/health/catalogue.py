"""The built-in inputs a health component can measure, and the default model the product ships with.

Each input is one number per customer at an instant (`success.health.inputs.gather_measures`), or None when the
customer has no data for it (no survey ever answered, no product usage ever sent, no renewal date): a missing
input is left out of the score and the remaining weights are renormalised, never counted as zero.
"""

INPUTS = {
    # Support load
    "open_tickets": ("Open tickets", "tickets not solved or closed"),
    "urgent_open_tickets": ("Urgent open tickets", "open tickets of urgent priority"),
    "sla_breaches_30d": (
        "SLA breaches, last 30 days",
        "SLA targets of the customer's tickets breached in the last 30 days",
    ),
    "sla_breaches_90d": (
        "SLA breaches, last 90 days",
        "SLA targets of the customer's tickets breached in the last 90 days",
    ),
    # Sentiment
    "nps_latest": ("Latest NPS answer", "the latest NPS answer (0-10) of any contact; missing if none ever"),
    "csat_90d": ("CSAT, last 90 days", "mean CSAT answer (1-5) of the last 90 days; missing if none"),
    "ces_90d": ("CES, last 90 days", "mean CES answer (1-7) of the last 90 days; missing if none"),
    # Product adoption
    "active_users_30d": (
        "Active users, last 30 days",
        "mean daily active users over the last 30 days; missing if no usage ever",
    ),
    "active_users_change": (
        "Active users, change %",
        "mean daily active users of the last 30 days against the 30 before, in %; missing if no usage ever",
    ),
    "usage_change": (
        "Usage events, change %",
        "product events of the last 30 days against the 30 before, in %; missing if no usage ever",
    ),
    "key_events_30d": (
        "Key events, last 30 days",
        "events named in the component's key events in the last 30 days; missing if no usage ever",
    ),
    "days_active_30d": (
        "Active days, last 30 days",
        "days with product usage in the last 30; missing if no usage ever",
    ),
    # Engagement
    "days_since_touch": (
        "Days since the last CSM touch",
        "days since the last note, task done, QBR or email reply; counted from the contract start (or the "
        "customer's creation) when there was none",
    ),
    # Renewal
    "days_to_renewal": ("Days to renewal", "days until the renewal date (negative: past); missing without one"),
}

INPUT_CHOICES = [(key, label) for key, (label, _) in INPUTS.items()]

GROUPS = {
    "Support load": ["open_tickets", "urgent_open_tickets", "sla_breaches_30d", "sla_breaches_90d"],
    "Sentiment": ["nps_latest", "csat_90d", "ces_90d"],
    "Product adoption": [
        "active_users_30d",
        "active_users_change",
        "usage_change",
        "key_events_30d",
        "days_active_30d",
    ],
    "Engagement": ["days_since_touch"],
    "Renewal risk": ["days_to_renewal"],
}

# The model the product ships with (`success.health.definitions.ensure_default_model`; migration 0009 upgrades an
# untouched copy of the first one); weights add up to 100. Why these weights: what tells a churn coming is the
# customer's own behaviour and voice, so product usage (trend 25 + active days 5) and sentiment (NPS 20, CSAT 10,
# CES 5) carry 60; the CSM relationship (engagement 10) and an approaching renewal (10) carry 20. Support load
# (open, urgent, SLA breaches: 5 each) carries only 15: most customers have no open ticket, so "no tickets" says
# little, and a busy support queue is as often a sign of an engaged customer as of an unhappy one.
# A detractor's NPS scores 0 (not 10) and the usage trend reaches 0 at -40 %.
DEFAULT_MODEL = {
    "name": "Default health model",
    "lifecycle_stage": "",
    "bands": {"red_below": 50, "green_from": 75},
    "components": [
        {
            "name": "Open tickets",
            "input": "open_tickets",
            "weight": "5",
            "method": "thresholds",
            "thresholds": [[0, 100], [2, 80], [5, 50], [None, 20]],
        },
        {
            "name": "Urgent open tickets",
            "input": "urgent_open_tickets",
            "weight": "5",
            "method": "thresholds",
            "thresholds": [[0, 100], [1, 50], [None, 0]],
        },
        {
            "name": "SLA breaches (90 days)",
            "input": "sla_breaches_90d",
            "weight": "5",
            "method": "thresholds",
            "thresholds": [[0, 100], [2, 60], [None, 20]],
        },
        {
            "name": "Latest NPS",
            "input": "nps_latest",
            "weight": "20",
            "method": "thresholds",
            "thresholds": [[6, 0], [8, 60], [None, 100]],
        },
        {"name": "CSAT (90 days)", "input": "csat_90d", "weight": "10", "method": "linear", "worst": "1", "best": "5"},
        {"name": "CES (90 days)", "input": "ces_90d", "weight": "5", "method": "linear", "worst": "1", "best": "7"},
        {
            "name": "Usage trend",
            "input": "usage_change",
            "weight": "25",
            "method": "linear",
            "worst": "-40",
            "best": "0",
        },
        {
            "name": "Active days (30 days)",
            "input": "days_active_30d",
            "weight": "5",
            "method": "linear",
            "worst": "0",
            "best": "20",
        },
        {
            "name": "CSM engagement",
            "input": "days_since_touch",
            "weight": "10",
            "method": "linear",
            "worst": "90",
            "best": "14",
        },
        {
            "name": "Renewal proximity",
            "input": "days_to_renewal",
            "weight": "10",
            "method": "thresholds",
            "thresholds": [[30, 40], [90, 70], [None, 100]],
        },
    ],
}
