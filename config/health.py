"""/healthz/ for load balancers and uptime checks: can this process reach the database and the broker?

    200 {"status": "ok", "database": "ok", "broker": "ok"}
    503 {"status": "unavailable", "database": "ok", "broker": "error: OperationalError"}

No authentication, no session, nothing written. Each check gives up after a few seconds. Error bodies name the
exception class only (the endpoint is public); the details go to the log as a warning. A 503 from here is not
logged again by Django as a server error: an unreachable broker is an operations signal, not a bug.
"""

import logging

from django.db import connections
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from config.celery import app as celery_app

logger = logging.getLogger(__name__)

BROKER_TIMEOUT_SECONDS = 3


def check_database(alias: str = "default") -> str:
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        logger.warning("health check: database %r unreachable: %s", alias, exc)
        return f"error: {type(exc).__name__}"
    return "ok"


def check_broker(timeout: float = BROKER_TIMEOUT_SECONDS) -> str:
    try:
        # A fresh connection (not the producer pool's), so a broker that went away is noticed.
        with celery_app.connection_for_write(
            connect_timeout=timeout,
            transport_options={"socket_connect_timeout": timeout, "socket_timeout": timeout},
        ) as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
    except Exception as exc:
        logger.warning("health check: broker unreachable: %s", exc)
        return f"error: {type(exc).__name__}"
    return "ok"


@never_cache
@require_safe
def healthz(request):
    checks = {"database": check_database(), "broker": check_broker()}
    healthy = all(result == "ok" for result in checks.values())
    response = JsonResponse({"status": "ok" if healthy else "unavailable", **checks}, status=200 if healthy else 503)
    response._has_been_logged = True  # django.utils.log.log_response: not an ERROR "Service Unavailable" line
    return response
