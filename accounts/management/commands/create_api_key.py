"""python manage.py create_api_key NAME --role ROLE  -> prints the key, alone, on the last line."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.roles import ROLE_NAMES
from accounts.services import api_key_create


class Command(BaseCommand):
    help = (
        "Create an API key for an integration. The key is printed once, alone on the last line of output "
        "(e.g. KEY=$(manage.py create_api_key billing --role csm | tail -n 1)); only its hash is stored."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="What uses the key, e.g. 'billing sync'.")
        parser.add_argument("--role", required=True, help=f"One of: {', '.join(ROLE_NAMES)}.")

    def handle(self, *args, name, role, **options):
        if role not in ROLE_NAMES:
            raise CommandError(f"Unknown role {role!r}. Valid roles: {', '.join(ROLE_NAMES)}.")
        try:
            api_key, raw_key = api_key_create(name=name, role=role, actor=None)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(
            f"Created API key {api_key.name!r} (role {api_key.role}, prefix {api_key.prefix}). "
            "Store it now; it cannot be shown again:"
        )
        self.stdout.write(raw_key)
