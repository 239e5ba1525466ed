# NPS / CES / CSAT surveys arrive with the surveys issue.
