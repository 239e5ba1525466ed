from django.apps import AppConfig


class SuccessConfig(AppConfig):
    name = "success"

    def ready(self):
        from success.health import admin as health_admin  # noqa: F401  (health models, overrides, customer page)
        from success.health import home as health_home  # noqa: F401  (home panels: health, runs, QBRs, outreach)
        from success.health import receivers as health_receivers  # noqa: F401  (timeline, usage -> recompute)
        from success.outreach import admin as outreach_admin  # noqa: F401  (outreach rules, preview, records)
        from success.outreach import home as outreach_home  # noqa: F401
        from success.outreach import receivers as outreach_receivers  # noqa: F401  (events -> outreach scans)
        from success.playbooks import admin as playbooks_admin  # noqa: F401  (templates, runs)
        from success.playbooks import home as playbooks_home  # noqa: F401
        from success.playbooks import receivers as playbooks_receivers  # noqa: F401  (stage entered -> runs)
        from success.qbrs import admin as qbr_admin  # QBR cadence, QBRs
        from success.qbrs import home as qbrs_home  # noqa: F401
        from success.revenue import admin as revenue_admin  # noqa: F401  (ARR movements, retention report)
        from success.revenue import home as revenue_home  # noqa: F401  (the CSM's book on the admin home page)
        from success.revenue import receivers  # noqa: F401  (crm.customer_arr_changed -> ARR movements)

        qbr_admin.register_customer_actions()  # "Propose a QBR" on the customer list (the admin is loaded by now)
