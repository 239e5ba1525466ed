"""Public pages of crm: unsubscribe. GET shows a page whose button POSTs; a POST (the RFC 8058 one-click POST
from a mail client, or that button) unsubscribes at once, with no login. GET never unsubscribes."""

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from crm.ledger import contact_unsubscribe
from crm.unsubscribe import contact_from_unsubscribe_token


@csrf_exempt  # mail clients POST "List-Unsubscribe=One-Click" with no cookie or token; the signed URL is the proof
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request, token: str):
    contact = contact_from_unsubscribe_token(token)
    if contact is None:
        context = {"invalid": True, "company": settings.COMPANY_NAME}
        return render(request, "crm/unsubscribe.html", context, status=404)
    if request.method == "POST":
        contact_unsubscribe(contact=contact, source="one-click" if "List-Unsubscribe" in request.POST else "page")
        if request.POST.get("List-Unsubscribe") == "One-Click":
            return HttpResponse(status=200)
    context = {"email": contact.email, "company": settings.COMPANY_NAME, "done": contact.unsubscribed_at is not None}
    return render(request, "crm/unsubscribe.html", context)
