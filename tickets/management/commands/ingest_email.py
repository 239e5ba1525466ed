import mailbox
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from tickets.inbound_email import inbound_email_process, inbound_email_receive
from tickets.models import InboundEmail


class Command(BaseCommand):
    help = (
        "Ingest emails into the support desk: .eml files, an mbox file or a Maildir folder "
        "(each message is stored raw first). --retry-failed processes failed messages again."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="*", help=".eml file, mbox file or Maildir directory")
        parser.add_argument("--retry-failed", action="store_true", help="process failed messages again")

    def handle(self, *args, paths=(), retry_failed=False, **options):
        if not paths and not retry_failed:
            raise CommandError("Give at least one path, or --retry-failed.")
        counts: dict[str, int] = {}
        for raw, source in self._messages(paths):
            status = inbound_email_receive(raw=raw, source=source).status
            counts[status] = counts.get(status, 0) + 1
        if retry_failed:
            for inbound in InboundEmail.objects.filter(status=InboundEmail.Status.FAILED).iterator(chunk_size=100):
                status = inbound_email_process(inbound=inbound).status
                counts[f"retried {status}"] = counts.get(f"retried {status}", 0) + 1
        summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nothing to do"
        self.stdout.write(summary)

    def _messages(self, paths):
        for name in paths:
            path = Path(name)
            if path.is_dir():
                if not (path / "cur").is_dir() and not (path / "new").is_dir():
                    raise CommandError(f"{path} is a directory but not a Maildir (no cur/ or new/).")
                box = mailbox.Maildir(path, factory=None, create=False)
                for key in box.iterkeys():
                    yield box.get_bytes(key), "maildir"
            elif path.is_file():
                head = path.open("rb").read(5)
                if head == b"From ":
                    box = mailbox.mbox(path, factory=None, create=False)
                    for key in box.iterkeys():
                        yield box.get_bytes(key), "mbox"
                else:
                    yield path.read_bytes(), "file"
            else:
                raise CommandError(f"No such file or directory: {path}")
