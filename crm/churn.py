"""Why a customer stopped paying: the short list every app uses (the customer API's write-only `churn_reason`,
success.revenue's churn movements). It lives in crm because crm's API accepts it and crm imports no app above it."""

from django.db import models


class ChurnReason(models.TextChoices):
    PRICE = "price", "Price / budget"
    PRODUCT_FIT = "product_fit", "Product fit / missing features"
    COMPETITOR = "competitor", "Moved to a competitor"
    SUPPORT = "support", "Support or service quality"
    ADOPTION = "adoption", "Low adoption / no value seen"
    BUSINESS_CLOSED = "business_closed", "Business closed, acquired or downsized"
    CHAMPION_LEFT = "champion_left", "Champion left"
    OTHER = "other", "Other (see note)"
