from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "Customers"

    def ready(self):
        from crm import (
            home,  # noqa: F401  (Today's work on the admin's home page)
            lookups,
            receivers,  # noqa: F401  (email provider tracking webhooks -> contact ledger)
        )

        lookups.register()  # <id>__any_of=[...]: a long list of ids as one array parameter on PostgreSQL
