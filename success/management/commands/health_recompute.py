"""`manage.py health_recompute`: score every customer now (what the nightly task does, in this process), or
`--customer ID` (repeatable) only; `--backfill-days N` first writes the history of the N previous UTC days (each
scored as of the end of its day: HealthScore rows only, no current health, event or task). Safe to repeat."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from success.health.services import health_recompute


class Command(BaseCommand):
    help = (
        "Recompute health scores now (every customer, or --customer ID ...), after backfilling the history of "
        "--backfill-days previous days. Idempotent: one score per customer per day."
    )

    def add_arguments(self, parser):
        parser.add_argument("--customer", type=int, action="append", dest="customers", help="A customer id.")
        parser.add_argument("--backfill-days", type=int, default=0, help="Previous days to backfill (max 730).")

    def handle(self, *args, customers=None, backfill_days=0, **options):
        if not 0 <= backfill_days <= 730:
            raise CommandError("--backfill-days must be from 0 to 730.")
        now = timezone.now()
        today = now.astimezone(dt.UTC).date()
        for days_ago in range(backfill_days, 0, -1):
            day = today - dt.timedelta(days=days_ago)
            at = dt.datetime.combine(day, dt.time.max, tzinfo=dt.UTC)
            stats = health_recompute(customer_ids=customers, at=at, backfill=True)
            self.stdout.write(f"{day}: {stats['scored']:,} scored (backfill)")
        stats = health_recompute(customer_ids=customers, at=now)
        self.stdout.write(
            f"{stats['day']}: {stats['scored']:,} scored, {stats['unscored']:,} with nothing measurable, "
            f"{stats['skipped']:,} churned skipped, {stats['band_changes']:,} band changes, "
            f"{stats['risk_tasks']:,} risk tasks opened"
        )
