"""seed_demo runs the default onboarding playbook on the onboarding demo customers, some on time, some stalled."""

from io import StringIO

import pytest
from django.core.management import call_command

from crm.models import OutboundEmail
from success.playbooks.models import PlaybookRun
from success.playbooks.selectors import run_list, run_progress


@pytest.mark.django_db
def test_seed_demo_starts_onboarding_runs():
    out = StringIO()
    call_command("seed_demo", "--customers", 60, "--tickets", 0, "--surveys", 0, "--usage", 0, "--seed", 3, stdout=out)
    assert "onboarding playbook" in out.getvalue()
    runs = list(run_list())
    assert runs and all(run.template.name == "Onboarding" for run in runs)
    states = {run_progress(run).state for run in runs if run.status == PlaybookRun.Status.ACTIVE}
    assert {"late"} & states and ({"on_track", "at_risk"} & states or any(r.status == "completed" for r in runs))
    assert not OutboundEmail.objects.exists()  # demo data sends nothing
