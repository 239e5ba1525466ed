from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)

# `make run` serves on $PORT (`PORT=8100 make run`): links in emails (surveys, unsubscribe, escalations) and the
# trusted CSRF origin follow it unless SITE_URL (or DJANGO_CSRF_TRUSTED_ORIGINS) is set explicitly.
if not env("SITE_URL", default="") and env("PORT", default=""):
    SITE_URL = f"http://127.0.0.1:{env.int('PORT')}"
    CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[SITE_URL])
