"""Django's English formats, with the time zone on every date and time shown (`T`: the abbreviation of the zone
the time is shown in, e.g. CET, IST, UTC), so a time on a page always says its zone. Times are shown in the
viewer's zone (accounts.User.time_zone, activated by config.middleware.TimeZoneMiddleware)."""

from django.conf.locale.en.formats import *  # noqa: F403

DATETIME_FORMAT = "N j, Y, P T"
SHORT_DATETIME_FORMAT = "m/d/Y P T"
