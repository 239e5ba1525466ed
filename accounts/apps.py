from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Staff accounts"

    def ready(self):
        from django.db.models.signals import post_migrate

        import accounts.schema  # noqa: F401  (registers the OpenAPI bearer scheme)
        from accounts.roles import roles_sync_receiver

        post_migrate.connect(roles_sync_receiver, dispatch_uid="accounts.roles_sync")
