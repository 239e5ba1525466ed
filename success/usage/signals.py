"""Signals of product usage. `usage_recorded(customer_ids=[...])` is sent after the commit of a batch that
recorded new events (health recomputes those customers from a receiver)."""

from django.dispatch import Signal

usage_recorded = Signal()
