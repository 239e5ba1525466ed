from django.apps import AppConfig


class SuccessConfig(AppConfig):
    name = "success"

    def ready(self):
        from success.qbrs import admin as qbr_admin  # QBR cadence, QBRs
        from success.revenue import admin as revenue_admin  # noqa: F401  (ARR movements, retention report)
        from success.revenue import receivers  # noqa: F401  (crm.customer_arr_changed -> ARR movements)

        qbr_admin.register_customer_actions()  # "Propose a QBR" on the customer list (the admin is loaded by now)
