from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "Customers"

    def ready(self):
        from crm import receivers  # noqa: F401  (email provider tracking webhooks -> contact ledger)
