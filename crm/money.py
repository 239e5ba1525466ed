"""Money as the admin shows it: thousands separators and the reporting currency (settings.REPORTING_CURRENCY,
the currency ARR and every revenue figure is kept in)."""

from decimal import Decimal

from django.conf import settings


def money(value, currency: str | None = None) -> str:
    """money(Decimal("1234567.5")) -> "USD 1,234,567.50"; whole amounts without cents: "USD 120,000"; None -> "—"."""
    if value is None or value == "":
        return "—"
    amount = Decimal(value)
    text = f"{amount:,.0f}" if amount == amount.to_integral_value() else f"{amount:,.2f}"
    return f"{currency or settings.REPORTING_CURRENCY} {text}"
