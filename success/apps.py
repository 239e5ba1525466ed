from django.apps import AppConfig


class SuccessConfig(AppConfig):
    name = "success"

    def ready(self):
        from success.health import admin as health_admin  # noqa: F401  (health models, overrides, customer page)
        from success.health import receivers as health_receivers  # noqa: F401  (timeline, usage -> recompute)
        from success.playbooks import admin as playbooks_admin  # noqa: F401  (templates, runs)
        from success.playbooks import receivers as playbooks_receivers  # noqa: F401  (stage entered -> runs)
        from success.revenue import admin as revenue_admin  # noqa: F401  (ARR movements, retention report)
        from success.revenue import receivers  # noqa: F401  (crm.customer_arr_changed -> ARR movements)
