# Support tickets and the SLA clock arrive with the tickets issue.
