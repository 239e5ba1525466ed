"""The public answer page. GET (what a mail scanner does) never records anything; POST records the score.
In a browser the page POSTs the clicked score after the person's first input (a mouse move, a touch, a key), so
a person still answers in one click while a scanner that runs the page records nothing (surveys.link_scan);
without JavaScript the form's submit button does it."""

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from surveys import link_scan, wording
from surveys.models import Invitation, band
from surveys.services import CHANGE_WINDOW, InvitationGone, invitation_by_token, survey_answer

LABELS = {
    "nps": ("Not at all likely", "Extremely likely"),
    "ces": ("Strongly disagree", "Strongly agree"),
    "csat": ("Very dissatisfied", "Very satisfied"),
}


def _gone(request, status: int, title: str, message: str):
    return render(request, "surveys/gone.html", {"title": title, "message": message}, status=status)


def _follow_up(survey, score) -> str:
    if score is not None and band(survey.kind, score) in ("detractor", "unhappy") and survey.follow_up_unhappy:
        return wording.fill(survey.follow_up_unhappy)
    return wording.fill(survey.follow_up_question)


# The secret token in the URL is the proof (a forged cross-site POST would need it); no CSRF cookie, so a
# browser that blocks cookies (or a mail app's web view) can answer instead of getting Django's CSRF 403 page.
@csrf_exempt
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def answer(request, token: str):
    invitation = invitation_by_token(token)
    if invitation is None:
        return _gone(request, 404, "Survey not found", "This survey link is not valid. Please check the link.")
    survey = invitation.survey
    response = getattr(invitation, "response", None) if invitation.status == Invitation.Status.ANSWERED else None
    now = timezone.now()
    expired = invitation.expires_at is not None and now >= invitation.expires_at and response is None
    if invitation.status not in (Invitation.Status.SENT, Invitation.Status.ANSWERED) or expired:
        return _gone(request, 410, "This survey has closed", "Thank you, but this survey is no longer open.")
    editable = response is None or now - response.answered_at <= CHANGE_WINDOW
    errors = None
    selected = response.score if response else None
    comment = response.comment if response else ""
    is_fetch = request.headers.get("X-Requested-With") == "fetch"
    confirm = False
    status = None
    # A record needs the person's input (or a button press); an answer that can no longer change is a 403 below.
    waiting = (
        link_scan.human_proof(invitation=invitation, signal=request.POST.get("human"))
        if (request.method == "POST" and editable)
        else None
    )
    if waiting is not None:
        if is_fetch:
            message = (
                "Please confirm your answer: press Confirm."
                if waiting == "confirm"
                else "Your answer is not saved yet: press Submit."
            )
            return JsonResponse({"detail": message, "confirm": waiting == "confirm"}, status=409)
        confirm, status = True, 409
        try:
            posted = int(request.POST.get("score", ""))
        except ValueError:
            posted = None
        selected = posted if posted in survey.scale else selected
        comment = request.POST.get("comment", comment)
    if request.method == "POST" and status is None:
        try:
            response, _ = survey_answer(
                invitation=invitation,
                score=request.POST.get("score"),
                comment=request.POST.get("comment") if "comment" in request.POST else None,
                user_agent=request.headers.get("User-Agent", ""),
            )
        except ValidationError as exc:
            if is_fetch:
                return JsonResponse({"errors": exc.message_dict}, status=400)
            errors = exc.message_dict
            status = 400
        except PermissionDenied:
            editable = False
            status = 403
            if is_fetch:
                return JsonResponse({"detail": "This answer can no longer be changed."}, status=403)
        except InvitationGone:
            return _gone(request, 410, "This survey has closed", "Thank you, but this survey is no longer open.")
        else:
            if is_fetch:
                return JsonResponse(
                    {"score": response.score, "band": response.band, "follow_up": _follow_up(survey, response.score)}
                )
            selected, comment, status = response.score, response.comment, 200
    elif request.method != "POST":
        status = 200
        try:
            clicked = int(request.GET.get("score", ""))
        except ValueError:
            clicked = None
        if clicked is not None and clicked in survey.scale and editable:
            selected = clicked
            link_scan.link_opened(invitation=invitation, score=clicked)
            confirm = link_scan.looks_scanned(invitation=invitation)
    context = {
        "survey": survey,
        "question": wording.fill(survey.question),
        "company": settings.COMPANY_NAME,
        "scale": list(survey.scale),
        "choices": [(s, _follow_up(survey, s)) for s in survey.scale],  # the question follows the score
        "saved": request.method == "POST" and status == 200,
        "selected": selected,
        "comment": request.POST.get("comment", comment) if errors else comment,
        "response": response,
        "editable": editable,
        "errors": errors,
        "follow_up": _follow_up(survey, selected),
        "low_label": LABELS[survey.kind][0],
        "high_label": LABELS[survey.kind][1],
        # Record the clicked score by script (after the person's first input) only on a GET that carries one
        # and differs from what is stored.
        "autosubmit": request.method in ("GET", "HEAD")
        and editable
        and selected is not None
        and (response is None or response.score != selected),
        # Several scores of this invitation opened within seconds (a scanner?): the person confirms by button.
        "confirm": confirm,
    }
    return render(request, "surveys/answer.html", context, status=status)
