"""`manage.py seed_demo --customers N`: realistic demo and scale data, bulk-inserted (see crm.demo_data),
then the support desk and its tickets for those customers (see tickets.demo_data) when the tickets app is
installed, then the customers' ARR movement history (see success.revenue.demo_data), then the demo surveys and
their history (see surveys.demo_data) when the surveys app is, then product usage and the onboarding playbook's
runs (success.usage.demo_data, success.playbooks.demo_data), the QBRs of the enterprise and mid-market customers
(success.qbrs.demo_data) and finally health scores: a backfill of daily scores
and a live recompute (success.health.demo_data).

crm imports no other app of ours at module level: the tickets, revenue and surveys parts are looked up when the
command runs.
"""

import random
import time

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError

from crm.demo_data import demo_seed
from crm.models import Customer

# Mirrors tickets.demo_data (SERVICES_MAX_TICKETS, default_ticket_count) for the help text only.
TICKETS_PER_CUSTOMER, DEFAULT_MAX_TICKETS, SERVICES_MAX_TICKETS = 2, 600, 2_000
DEFAULT_MAX_INVITATIONS = 3_000  # surveys.demo_data.DEFAULT_MAX_INVITATIONS
DEFAULT_MAX_USAGE_CUSTOMERS = 1_000  # success.usage.demo_data.DEFAULT_MAX_CUSTOMERS
DEFAULT_HEALTH_DAYS = 90  # success.health.demo_data.DEFAULT_DAYS


class Command(BaseCommand):
    help = (
        "Create realistic demo data: CSMs and support agents, customers with contacts, notes and timeline "
        "events, with bulk inserts (100,000 customers in well under a minute on PostgreSQL). Bypasses the "
        "per-row services, so no django-simple-history rows are written for seeded data. Then the support "
        "desk: business calendars, SLA policies, flag rules, a support team, and tickets for the new "
        f"customers: up to {SERVICES_MAX_TICKETS:,} through the ticket services (real SLA clocks, status "
        "logs, timelines and metrics), more bulk-inserted (no status logs or timeline events per ticket). Then "
        "NPS, CSAT and CES surveys with a year of invitations and answers recorded through the survey services "
        "(ledger, timeline, follow-up tasks; no emails)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, required=True, help="How many customers to create.")
        parser.add_argument("--contacts-per-customer", type=int, default=3, help="Default: 3.")
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when any customer exists already.")
        parser.add_argument("--seed", type=int, default=None, help="The same seed gives the same data.")
        parser.add_argument("--batch-size", type=int, default=5000, help="Rows per INSERT. Default: 5000.")
        parser.add_argument(
            "--tickets",
            type=int,
            default=None,
            help=f"Support tickets for the new customers (0: none). Default: {TICKETS_PER_CUSTOMER} per "
            f"customer, at most {DEFAULT_MAX_TICKETS:,}.",
        )
        parser.add_argument(
            "--ticket-path",
            choices=["auto", "services", "bulk"],
            default="auto",
            help=f"auto (default): through the ticket services up to {SERVICES_MAX_TICKETS:,} tickets, bulk "
            "inserts above; services: every event through the services; bulk: COPY / bulk_create with one "
            "running SLA target per open ticket (no status log, timeline events or SLA intervals).",
        )
        parser.add_argument(
            "--surveys",
            type=int,
            default=None,
            help="About how many past survey invitations to record for the new customers' contacts (0: none; "
            f"the surveys are configured all the same). Default: one per contact, at most "
            f"{DEFAULT_MAX_INVITATIONS:,}.",
        )
        parser.add_argument(
            "--usage",
            type=int,
            default=None,
            help="How many of the new customers get a product usage history (ten months of daily rollups, the "
            f"last week as raw events; 0: none). Default: all, at most {DEFAULT_MAX_USAGE_CUSTOMERS:,}.",
        )
        parser.add_argument(
            "--health-days",
            type=int,
            default=DEFAULT_HEALTH_DAYS,
            help="Days of daily health scores to backfill for the new customers (the first 1,000) before the live "
            f"recompute of all of them (0: no health scores at all). Default: {DEFAULT_HEALTH_DAYS}.",
        )

    def handle(
        self,
        *args,
        customers,
        contacts_per_customer,
        if_empty,
        seed,
        batch_size,
        tickets,
        ticket_path,
        surveys,
        usage=None,
        health_days=DEFAULT_HEALTH_DAYS,
        **options,
    ):
        if customers < 1:
            raise CommandError("--customers must be at least 1.")
        if not 1 <= contacts_per_customer <= 50:
            raise CommandError("--contacts-per-customer must be between 1 and 50.")
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        with_tickets = apps.is_installed("tickets")
        if with_tickets:
            from tickets import demo_data as ticket_demo

            if tickets is None:
                tickets = ticket_demo.default_ticket_count(customers)
            if tickets < 0:
                raise CommandError("--tickets must be 0 or more.")
            if ticket_path == "services" and tickets > ticket_demo.SERVICES_MAX_TICKETS:
                raise CommandError(
                    f"--ticket-path services seeds at most {ticket_demo.SERVICES_MAX_TICKETS:,} tickets."
                )
        if surveys is not None and surveys < 0:
            raise CommandError("--surveys must be 0 or more.")
        if usage is not None and usage < 0:
            raise CommandError("--usage must be 0 or more.")
        if not 0 <= health_days <= 400:
            raise CommandError("--health-days must be from 0 to 400.")
        if if_empty and Customer.objects.exists():
            self.stdout.write("Customers exist already; nothing seeded (--if-empty).")
            return
        if seed is None:
            seed = random.SystemRandom().randrange(2**31)
        first_new = (Customer.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
        phases: list[tuple[str, float]] = []
        started = time.monotonic()
        result = demo_seed(
            customers=customers, contacts_per_customer=contacts_per_customer, seed=seed, batch_size=batch_size
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {result.customers:,} customers, {result.contacts:,} contacts, "
                f"{result.notes:,} notes and {result.timeline_events:,} timeline events ({result.csms} CSMs, "
                f"{result.support_agents} support agents) in {result.seconds:.1f} s (seed {seed})."
            )
        )
        phases.append(("customers and contacts", time.monotonic() - started))
        if with_tickets and tickets:
            started = time.monotonic()
            self._seed_tickets(ticket_demo, tickets, seed, first_new, ticket_path, batch_size)
            phases.append(("tickets", time.monotonic() - started))
        if apps.is_installed("success"):
            started = time.monotonic()
            self._seed_revenue(seed, first_new, batch_size)
            phases.append(("ARR movements", time.monotonic() - started))
        if apps.is_installed("surveys"):
            started = time.monotonic()
            self._seed_surveys(surveys, seed, first_new, result.contacts)
            phases.append(("surveys", time.monotonic() - started))
        if apps.is_installed("success") and usage != 0:
            started = time.monotonic()
            self._seed_usage(usage, seed, first_new, result.customers)
            phases.append(("usage", time.monotonic() - started))
        if apps.is_installed("success"):
            started = time.monotonic()
            self._seed_playbooks(seed, first_new)
            phases.append(("playbooks", time.monotonic() - started))
        if apps.is_installed("success"):
            started = time.monotonic()
            self._seed_qbrs(seed, first_new)
            phases.append(("QBRs", time.monotonic() - started))
        if apps.is_installed("success") and health_days:
            started = time.monotonic()
            self._seed_health(health_days, first_new)
            phases.append(("health", time.monotonic() - started))
        # Wall-clock time per phase (each includes its own queries and setup), for quoting and comparing.
        self.stdout.write(
            "Time per phase: "
            + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phases)
            + f"; total {sum(seconds for _name, seconds in phases):.1f} s."
        )

    def _seed_tickets(self, ticket_demo, tickets, seed, first_new, ticket_path, batch_size) -> None:
        support = ticket_demo.demo_tickets_seed(
            tickets=tickets,
            seed=seed,
            customers=Customer.objects.filter(pk__gte=first_new),
            path=ticket_path,
            batch_size=batch_size,
            progress=self._progress if tickets > ticket_demo.SERVICES_MAX_TICKETS else None,
        )
        statuses = ", ".join(f"{n:,} {status}" for status, n in support.statuses.most_common())
        if support.path == "services":
            sweep = f"; SLA sweep: {support.warned:,} warnings, {support.escalated:,} escalations"
        else:
            sweep = " (bulk: no status logs, timeline events or SLA intervals per ticket)"
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {support.tickets:,} tickets ({statuses}) with {support.messages:,} messages and "
                f"{support.sla_targets:,} SLA targets through the {support.path} path in "
                f"{support.seconds:.1f} s{sweep}."
            )
        )

    def _seed_revenue(self, seed, first_new, batch_size) -> None:
        from success.revenue.demo_data import demo_revenue_seed

        result = demo_revenue_seed(
            seed=seed, customers=Customer.objects.filter(pk__gte=first_new), batch_size=batch_size
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {result.movements:,} ARR movements ({result.churned:,} churned customers, "
                f"{result.reactivated:,} came back) in {result.seconds:.1f} s."
            )
        )

    def _seed_surveys(self, invitations, seed, first_new, contacts) -> None:
        from surveys import demo_data as survey_demo

        if invitations is None:
            invitations = survey_demo.default_invitation_count(contacts)
        result = survey_demo.demo_surveys_seed(
            seed=seed, invitations=invitations, customers=Customer.objects.filter(pk__gte=first_new)
        )
        statuses = ", ".join(f"{n:,} {status}" for status, n in result.statuses.most_common()) or "none"
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {result.surveys} surveys with {result.invitations:,} invitations ({statuses}), "
                f"{result.responses:,} responses and {result.follow_up_tasks:,} follow-up tasks in "
                f"{result.seconds:.1f} s."
            )
        )

    def _seed_usage(self, customers, seed, first_new, new_customers) -> None:
        from success.usage import demo_data as usage_demo

        if customers is None:
            customers = usage_demo.default_customer_count(new_customers)
        result = usage_demo.demo_usage_seed(
            seed=seed, customers=Customer.objects.filter(pk__gte=first_new), max_customers=customers
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded product usage for {result.customers:,} customers: {result.days:,} days of rollups and "
                f"{result.raw_events:,} raw events (the last week) in {result.seconds:.1f} s."
            )
        )

    def _seed_health(self, days, first_new) -> None:
        from success.health.demo_data import demo_health_seed

        result = demo_health_seed(customers=Customer.objects.filter(pk__gte=first_new), days=days)
        self.stdout.write(
            self.style.SUCCESS(
                f"Scored {result.customers:,} customers: {result.days} days of daily health scores backfilled "
                f"for {result.backfilled:,} of them, then a live recompute ({result.scores:,} scores) in "
                f"{result.seconds:.1f} s."
            )
        )

    def _seed_playbooks(self, seed, first_new) -> None:
        from success.playbooks.demo_data import demo_playbooks_seed

        result = demo_playbooks_seed(seed=seed, customers=Customer.objects.filter(pk__gte=first_new))
        self.stdout.write(
            self.style.SUCCESS(
                f"Started the onboarding playbook for {result.runs:,} onboarding customers ({result.completed:,} "
                f"finished, {result.stalled:,} stalled) in {result.seconds:.1f} s."
            )
        )

    def _seed_qbrs(self, seed, first_new) -> None:
        from success.qbrs.demo_data import demo_qbrs_seed

        result = demo_qbrs_seed(seed=seed, customers=Customer.objects.filter(pk__gte=first_new))
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded QBRs: {result.held:,} held with {result.action_items:,} action items, {result.cancelled:,} "
                f"cancelled, {result.proposed:,} next ones proposed by the planner ({result.scheduled:,} of them "
                f"scheduled) in {result.seconds:.1f} s."
            )
        )

    def _progress(self, done: int, total: int) -> None:
        self.stdout.write(f"  tickets: {done:,} / {total:,}")
