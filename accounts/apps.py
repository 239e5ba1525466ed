from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Staff accounts"

    def ready(self):
        from django.db.models.signals import post_migrate

        import accounts.schema  # noqa: F401  (registers the OpenAPI bearer scheme)
        from accounts.roles import roles_sync_receiver

        post_migrate.connect(roles_sync_receiver, dispatch_uid="accounts.roles_sync")

        from allauth.mfa.signals import authenticator_removed
        from django.contrib.auth.signals import user_logged_in

        from accounts import mfa

        user_logged_in.connect(mfa.mark_session_on_login, dispatch_uid="accounts.mfa_mark_session")
        authenticator_removed.connect(mfa.mark_session_on_totp_removed, dispatch_uid="accounts.mfa_totp_removed")

        from django.contrib.auth.models import Group
        from django.db.models.signals import m2m_changed

        from accounts.roles import role_permissions_forget

        # An admin editing a role group's permissions: API keys see it at once in this process (others: ≤ 60 s).
        m2m_changed.connect(
            lambda **kwargs: role_permissions_forget(),
            sender=Group.permissions.through,
            dispatch_uid="accounts.role_permissions_forget",
            weak=False,
        )
