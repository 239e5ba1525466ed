"""Playbook templates as config as code.

manage.py playbooks export "Onboarding" > onboarding.json    one template as JSON (email templates and
                                                            surveys by name)
manage.py playbooks import onboarding.json                  create or update the template of that name (a
                                                            new version when its definition changed)
manage.py playbooks default                                 create the shipped onboarding template if missing
"""

import json
import sys
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from success.playbooks.defaults import ensure_default_playbook
from success.playbooks.definitions import playbook_export, playbook_import
from success.playbooks.models import PlaybookTemplate


class Command(BaseCommand):
    help = "Export or import playbook templates as JSON; create the default onboarding template."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        export = sub.add_parser("export")
        export.add_argument("name")
        imported = sub.add_parser("import")
        imported.add_argument("path", help="A JSON file made by export; - for standard input.")
        sub.add_parser("default")

    def handle(self, *args, action, **options):
        if action == "export":
            template = PlaybookTemplate.objects.filter(name=options["name"]).first()
            if template is None:
                raise CommandError(f"No playbook is named {options['name']!r}.")
            self.stdout.write(json.dumps(playbook_export(template), indent=2, ensure_ascii=False))
        elif action == "import":
            path = options["path"]
            try:
                text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
                data = json.loads(text)
            except (OSError, ValueError) as exc:
                raise CommandError(f"Cannot read {path}: {exc}") from exc
            try:
                template, version = playbook_import(data=data)
            except ValidationError as exc:
                lines = [f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items()]
                raise CommandError("Not imported:\n" + "\n".join(lines)) from exc
            self.stdout.write(f"{template.name}: version {version.number}")
        else:
            template = ensure_default_playbook()
            self.stdout.write(f"{template.name}: version {template.versions.order_by('-number').first().number}")
