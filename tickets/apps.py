from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "tickets"
    verbose_name = "Support tickets"

    def ready(self):
        from tickets import receivers  # noqa: F401
