"""Models of the success app, one module per capability (see STYLE.md "Growing `success/`").

The CSM Task moved down to crm (crm.models.Task, services in crm.task_services): every app creates tasks from
the floor below it. Capabilities add `from success.<capability>.models import *` lines here.
"""

from success.health.models import *  # noqa: F403 (health scores)
from success.outreach.models import *  # noqa: F403 (proactive outreach rules and records)
from success.playbooks.models import *  # noqa: F403 (onboarding playbooks)
from success.qbrs.models import *  # noqa: F403 (QBRs)
from success.revenue.models import *  # noqa: F403 (ARR movements)
from success.usage.models import *  # noqa: F403 (product usage)
