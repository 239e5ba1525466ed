"""python manage.py ensure_admin: make sure an admin login exists (idempotent; used by `make run`)."""

import os

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.services import superuser_ensure


class Command(BaseCommand):
    help = (
        "Create or update the superuser from DJANGO_SUPERUSER_EMAIL / DJANGO_SUPERUSER_PASSWORD, else from the "
        "documented local demo credentials (settings.DEMO_ADMIN_EMAIL / DEMO_ADMIN_PASSWORD; only when DEBUG is on). "
        "An existing user's password is only reset when DJANGO_SUPERUSER_PASSWORD is set."
    )

    def handle(self, *args, **options):
        env_email = os.environ.get("DJANGO_SUPERUSER_EMAIL", "").strip()
        env_password = os.environ.get("DJANGO_SUPERUSER_PASSWORD", "")
        if env_email:
            email, source = env_email, "DJANGO_SUPERUSER_EMAIL"
            creation_password = env_password or None
        elif not settings.DEBUG:
            # The demo credentials are published in the README: never make them a real login outside DEBUG.
            raise CommandError(
                "Refusing to create the documented demo admin while DEBUG is off: set DJANGO_SUPERUSER_EMAIL and "
                "DJANGO_SUPERUSER_PASSWORD to the admin login you want."
            )
        else:
            email, source = settings.DEMO_ADMIN_EMAIL, "the local demo settings"
            creation_password = env_password or settings.DEMO_ADMIN_PASSWORD
        from accounts.models import User

        exists = User.objects.filter(email__iexact=email).exists()
        # Never reset an existing user's password unless the environment asks for it.
        password = (env_password or None) if exists else creation_password
        try:
            user, done = superuser_ensure(email=email, password=password)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        if done:
            self.stdout.write(f"Superuser {user.email} (from {source}): {', '.join(done)}.")
        else:
            self.stdout.write(f"Superuser {user.email} (from {source}) already exists and is up to date.")
