"""A real `celery worker` and `celery beat`, as subprocesses, against the configured broker and the test database.

Works against PostgreSQL + Redis (CI: DATABASE_URL / CELERY_BROKER_URL) and against the embedded defaults
(SQLite file + filesystem broker). On PostgreSQL it also shows that a second beat stands by while another holds
the scheduler lock (config/celery.py). The test uses a queue of its own, so stale messages of earlier runs (or a
local `make run` worker on the same broker) neither interfere nor steal its tasks.
"""

import io
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection, connections
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from kombu import Exchange, Queue

from config.celery import BEAT_LOCK_KEY
from config.celery import app as celery_app
from crm.models import Heartbeat, OutboundEmail
from crm.outbound_email import email_queue

pytestmark = [pytest.mark.celery_live, pytest.mark.django_db(transaction=True)]

WAIT_SECONDS = 30


def database_url() -> str:
    """The URL of the database this test runs on (the test database), for the subprocesses' DATABASE_URL."""
    db = settings.DATABASES["default"]
    if connection.vendor == "sqlite":
        name = str(db["NAME"])
        if name == ":memory:" or name.startswith("file:"):
            pytest.skip("the test database is in memory; worker and beat could not open it")
        return f"sqlite:///{Path(name).resolve()}"
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip(f"no URL form for {db['ENGINE']}")
    auth = quote(db.get("USER") or "", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    host = db.get("HOST") or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    options = {k: v for k, v in (db.get("OPTIONS") or {}).items() if isinstance(v, str | int)}
    query = f"?{urlencode(options)}" if options else ""
    return f"postgres://{auth}{'@' if auth else ''}{host}{port}/{quote(db['NAME'], safe='')}{query}"


class Process:
    """`celery -A config <args>` with its output in log_dir/<name>.log. `own_group`: in a session (process group)
    of its own, so that kill_group() (SIGKILL) reaches its pool processes too, as a machine losing it would."""

    STOP_SECONDS = 15  # a warm shutdown's grace before SIGKILL

    def __init__(self, name: str, args: list[str], env: dict, log_dir: Path, *, own_group: bool = False):
        self.name = name
        self.own_group = own_group
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", *args],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=own_group,
        )

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill_group(self) -> None:
        os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self) -> None:
        if self.alive():
            self.popen.terminate()  # warm shutdown
            try:
                self.popen.wait(timeout=self.STOP_SECONDS)
            except subprocess.TimeoutExpired:
                if self.own_group:
                    self.kill_group()
                else:
                    self.popen.kill()
                    self.popen.wait(timeout=5)
        self._log.close()

    def tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return f"--- {self.name} (exit {self.popen.poll()}) ---\n" + "\n".join(text)


def wait_until(condition, processes, what: str, timeout: float = WAIT_SECONDS):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        dead = [p for p in processes if not p.alive()]
        if dead:
            break
        time.sleep(0.5)
    logs = "\n".join(p.tail() for p in processes)
    pytest.fail(f"{what} did not happen within {timeout}s\n{logs}")


def delete_queue(name: str) -> None:
    """Remove the test's queue and its bindings from the broker (cleanup only: leftovers are harmless)."""
    try:
        with celery_app.connection_for_write() as broker:
            queue = Queue(name, Exchange(name, type="direct"), routing_key=name)(broker.default_channel)
            queue.declare()  # the channel deletes only bindings it knows about
            queue.purge()
            queue.delete()
        control_folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("control_folder")
        if settings.CELERY_BROKER_URL.startswith("filesystem://") and control_folder:
            (Path(control_folder) / f"{name}.exchange").unlink(missing_ok=True)
    except Exception as exc:
        print(f"could not delete the test queue {name}: {exc}")


def test_beat_and_worker_run_the_heartbeat_and_send_a_queued_email(smtp_server, monkeypatch, tmp_path, contact_factory):
    queue_name = f"live-{uuid.uuid4().hex[:10]}"
    call_command("setup_periodic_tasks", stdout=io.StringIO())
    heartbeat = PeriodicTask.objects.get(task="crm.heartbeat")
    heartbeat.interval, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    heartbeat.queue = queue_name
    heartbeat.save()
    PeriodicTask.objects.exclude(pk=heartbeat.pk).update(enabled=False)  # only the heartbeat, in our queue

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "TEST_EMAIL_URL": f"smtp://{smtp_server.host}:{smtp_server.port}",
        "PYTHONUNBUFFERED": "1",
    }
    worker = beat = lock_holder = None
    try:
        if connection.vendor == "postgresql":
            # Another beat is already active on this database: ours must stand by until it is gone.
            lock_holder = connections.create_connection("default")
            with lock_holder.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_lock(%s)", [BEAT_LOCK_KEY])
        worker = Process(
            "worker",
            [
                *("worker", "--pool", "solo", "-Q", queue_name, "-n", f"{queue_name}@%h", "-l", "INFO"),
                *("--without-mingle", "--without-gossip", "--without-heartbeat"),
            ],
            env,
            tmp_path,
        )
        beat = Process(
            "beat",
            ["beat", "-l", "INFO", "--max-interval", "1", "-s", str(tmp_path / "beat-schedule")],
            env,
            tmp_path,
        )
        processes = [worker, beat]

        # The web process's side: a service queues an email; on commit its task goes to the broker.
        monkeypatch.setitem(celery_app.conf, "task_default_queue", queue_name)
        contact = contact_factory(email="grace@customer.example.com")
        email = email_queue(
            idempotency_key="live:1",
            kind="test",
            to_email=contact.email,
            subject="Sent by a real worker",
            text_body="Hello from Celery.",
            html_body="<p>Hello from Celery.</p>",
            contact=contact,
        )

        if lock_holder is not None:
            wait_until(lambda: "standing by" in beat.log_path.read_text(), processes, "beat standing by")
            time.sleep(1.5)
            assert not Heartbeat.objects.exists()
            lock_holder.close()  # the other beat stops

        row = wait_until(
            lambda: Heartbeat.objects.filter(name="celery", beats__gte=2).first(),
            processes,
            "two heartbeats from beat through the worker",
        )
        assert row.worker_hostname.startswith(f"{queue_name}@")

        wait_until(
            lambda: OutboundEmail.objects.filter(pk=email.pk, status=OutboundEmail.Status.SENT).exists(),
            processes,
            "the queued email being sent by the worker",
        )
        [received] = smtp_server.wait_for(1)
        assert received.message["Message-ID"] == email.message_id
        assert received.message["Subject"] == "Sent by a real worker"
        assert received.rcpt_tos == ["grace@customer.example.com"]
    finally:
        if lock_holder is not None:
            lock_holder.close()
        for process in (beat, worker):
            if process is not None:
                process.stop()
        delete_queue(queue_name)
