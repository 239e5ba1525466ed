from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "tickets"
    verbose_name = "Support tickets"

    def ready(self):
        from tickets import home, receivers  # noqa: F401  (home: panels of the admin's home page)
