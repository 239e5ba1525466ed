"""`manage.py seed_demo --customers N`: realistic demo and scale data, bulk-inserted (see crm.demo_data)."""

import random

from django.core.management.base import BaseCommand, CommandError

from crm.demo_data import demo_seed
from crm.models import Customer


class Command(BaseCommand):
    help = (
        "Create realistic demo data: CSMs and support agents, customers with contacts, notes and timeline "
        "events, with bulk inserts (100,000 customers in well under a minute on PostgreSQL). Bypasses the "
        "per-row services, so no django-simple-history rows are written for seeded data."
    )

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, required=True, help="How many customers to create.")
        parser.add_argument("--contacts-per-customer", type=int, default=3, help="Default: 3.")
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing when any customer exists already."
        )
        parser.add_argument("--seed", type=int, default=None, help="The same seed gives the same data.")
        parser.add_argument("--batch-size", type=int, default=5000, help="Rows per INSERT. Default: 5000.")

    def handle(self, *args, customers, contacts_per_customer, if_empty, seed, batch_size, **options):
        if customers < 1:
            raise CommandError("--customers must be at least 1.")
        if not 1 <= contacts_per_customer <= 50:
            raise CommandError("--contacts-per-customer must be between 1 and 50.")
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        if if_empty and Customer.objects.exists():
            self.stdout.write("Customers exist already; nothing seeded (--if-empty).")
            return
        if seed is None:
            seed = random.SystemRandom().randrange(2**31)
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
