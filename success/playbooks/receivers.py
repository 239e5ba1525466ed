"""crm tells playbooks that a customer entered a lifecycle stage (crm.signals.customer_stage_entered, sent on
commit); start the playbooks bound to that stage, once per entry. A failure is logged, never raised: the stage
change is already committed, and the periodic scan starts what was missed."""

import logging

from django.dispatch import receiver

from crm.signals import customer_stage_entered
from success.playbooks.scheduling import entry_key
from success.playbooks.services import playbook_autostart

logger = logging.getLogger(__name__)


@receiver(customer_stage_entered, dispatch_uid="success.playbooks.autostart")
def start_bound_playbooks(sender, *, customer_id, stage, event_id, **kwargs):
    try:
        playbook_autostart(customer_id=customer_id, stage=stage, entry_key=entry_key(event_id))
    except Exception:
        logger.exception("automatic playbook start failed for customer %s; the scan will retry", customer_id)
