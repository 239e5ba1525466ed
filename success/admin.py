"""Admin of the success app. CSM tasks moved to crm (crm.task_admin): /admin/success/task/... redirects to
/admin/crm/task/... (config/urls.py)."""

from success import (
    admin_usage,  # noqa: F401 (product usage admin)
    customer_page,  # noqa: F401 (the customer page's header figures)
)
