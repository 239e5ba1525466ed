"""Thin Celery tasks of surveys: beat ticks run the scans (surveys.scheduling), the scans publish a task per
chunk of invitations, and each chunk task calls one idempotent service (surveys.dispatch). The format of
PERIODIC_TASKS is in crm/tasks.py; `manage.py setup_periodic_tasks` writes them into the beat schedule."""

from celery import shared_task

from surveys import dispatch, loop, scheduling
from surveys.services import invitation_dispatch, invitation_remind

PERIODIC_TASKS = [
    {
        "name": "Survey dispatch",
        "task": "surveys.dispatch_scan",
        "every_seconds": 60,
        "expire_seconds": 50,  # a tick nobody ran in time is dropped: the next one finds the same work
        "description": "Publishes send tasks for the scheduled survey invitations that are due, in chunks.",
    },
    {
        "name": "Survey reminders",
        "task": "surveys.reminder_scan",
        "every_seconds": 900,
        "expire_seconds": 600,
        "description": "Reminds contacts who have not answered a survey after its reminder delay (once).",
    },
    {
        "name": "Survey expiry",
        "task": "surveys.expiry_scan",
        "every_seconds": 3600,
        "description": "Marks sent invitations past their expiry as expired (their links then answer 410).",
    },
    {
        "name": "Survey follow-ups",
        "task": "surveys.loop_sweep",
        "every_seconds": 600,
        "expire_seconds": 500,
        "description": "Queues again the follow-up (task or ticket) of unhappy answers whose follow-up was lost.",
    },
    {
        "name": "Recurring NPS",
        "task": "surveys.recurring_scan",
        "crontab": {"minute": "17"},
        "expire_seconds": 3000,
        "description": "Schedules recurring surveys per contact, on weekday mornings in their time zone.",
    },
]


@shared_task(name="surveys.dispatch_scan")
def run_dispatch_scan() -> int:
    return scheduling.dispatch_scan()


@shared_task(name="surveys.reminder_scan")
def run_reminder_scan() -> int:
    return scheduling.reminder_scan()


@shared_task(name="surveys.expiry_scan")
def run_expiry_scan() -> int:
    return scheduling.expiry_scan()


@shared_task(name="surveys.recurring_scan")
def run_recurring_scan() -> int:
    return scheduling.recurring_scan()


@shared_task(name="surveys.loop_sweep")
def run_loop_sweep() -> int:
    return loop.loop_sweep()


@shared_task(
    name="surveys.close_loop",
    acks_late=True,
    autoretry_for=(Exception,),
    retry_backoff=30,
    retry_backoff_max=600,
    max_retries=5,
)
def close_loop(response_id: int) -> None:
    """Close the loop on one answer (follow-up task or ticket, its updates, a promoter's thank-you), queued on
    commit of the answer and of each change. Idempotent per invitation; a deleted answer is nothing to do;
    retried with backoff on error, and the follow-up sweep catches what is still lost."""
    loop.loop_close(response_id=response_id)


@shared_task(name="surveys.dispatch_invitations", acks_late=True)
def dispatch_invitations(invitation_ids: list[int]) -> dict[str, int]:
    """Send a chunk of due invitations (ledger checked, emails queued in bulk: crm.send_email_batch). A second
    delivery finds them no longer scheduled and does nothing; deleted invitations are nothing to do."""
    return dispatch.invitation_dispatch_many(invitation_ids=invitation_ids)


@shared_task(name="surveys.remind_invitations", acks_late=True)
def remind_invitations(invitation_ids: list[int]) -> dict[str, int]:
    """The reminders of a chunk of invitations, each once."""
    return dispatch.invitation_remind_many(invitation_ids=invitation_ids)


# One invitation per task: what scans published before surveys.dispatch_invitations (messages still queued at
# an upgrade), and a single send.
@shared_task(name="surveys.dispatch_invitation", acks_late=True)
def dispatch_invitation(invitation_id: int) -> str | None:
    """Send one due invitation (ledger check, then its email row). A second delivery finds it no longer
    scheduled and does nothing; a deleted invitation is nothing to do."""
    invitation = invitation_dispatch(invitation_id=invitation_id)
    return invitation.status if invitation is not None else None


@shared_task(name="surveys.remind_invitation", acks_late=True)
def remind_invitation(invitation_id: int) -> bool:
    return invitation_remind(invitation_id=invitation_id) is not None


@shared_task(name="surveys.send_campaign", acks_late=True)
def send_campaign(survey_id: int, audience: dict, trigger_key: str, actor_id: int | None = None) -> int:
    """Create a campaign's invitations in batches (idempotent: a repeated task adds nothing); the dispatch
    scan sends them."""
    return scheduling.campaign_invite(
        survey_id=survey_id, audience=audience, trigger_key=trigger_key, actor_id=actor_id
    )
