"""What other apps add to the admin without crm importing them: panels on the admin's home page and on the
customer page, columns and list filters on the customer list (re-exported by crm.admin, where apps import them
from)."""

import re
from collections.abc import Callable
from typing import NamedTuple

from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.text import slugify

# --- Panels other apps add to the customer page ---------------------------------------------------
# crm imports no other app of ours; an app registers a read-only panel instead (in its admin.py):
#     @register_customer_panel
#     def my_panel(customer) -> tuple[str, str] | None:   # (title, safe HTML), or None to show nothing
CUSTOMER_PANELS: list[Callable] = []


def register_customer_panel(panel: Callable) -> Callable:
    if panel not in CUSTOMER_PANELS:
        CUSTOMER_PANELS.append(panel)
    return panel


def customer_panel_sections(customer) -> list[tuple[str, str, str]]:
    """[(anchor, title, safe HTML)] of the panels with something to show, in registration order."""
    sections = []
    for panel in CUSTOMER_PANELS:
        shown = panel(customer)
        if shown:
            title, html = shown
            sections.append((f"section-{slugify(title)}", title, html))
    return sections


def render_customer_panels(customer) -> str:
    parts = [
        format_html('<div class="crm-panel" id="{}"><h3>{}</h3>{}</div>', anchor, title, html)
        for anchor, title, html in customer_panel_sections(customer)
    ]
    return mark_safe("".join(parts))  # noqa: S308  (each part was built by format_html)


# --- The customer page's header: "how is this account?" ---------------------------------------------
# Each app adds the figures it owns (in its admin.py); a few queries per item whatever the size of the account:
#     @register_customer_header_item
#     def my_items(customer) -> list[HeaderItem]:
#         return [HeaderItem("Open tickets", "3 (1 breached)", url="/admin/...", tone="bad")]
# `tone` ("good", "warn", "bad" or "") colours the value; `url` links it to the full list.
class HeaderItem(NamedTuple):
    label: str
    value: str
    url: str = ""
    tone: str = ""
    detail: str = ""


CUSTOMER_HEADER_ITEMS: list[Callable] = []


def register_customer_header_item(item: Callable) -> Callable:
    if item not in CUSTOMER_HEADER_ITEMS:
        CUSTOMER_HEADER_ITEMS.append(item)
    return item


def customer_header_items(customer) -> list[HeaderItem]:
    items = []
    for item in CUSTOMER_HEADER_ITEMS:
        items.extend(item(customer) or ())
    return items


# --- References in timeline summaries that become links ------------------------------------------------
# An app says which words name its objects (in its admin.py), e.g. tickets: `[#598]` is ticket 598:
#     register_timeline_reference(r"\[#(\d+)\]", "admin:tickets_ticket_change")
# The first group is the object's id; the link goes to the admin URL named, with that id.
TIMELINE_REFERENCES: list[tuple[re.Pattern, str]] = []


def register_timeline_reference(pattern: str, url_name: str) -> None:
    compiled = re.compile(pattern)
    if all(existing.pattern != pattern for existing, _ in TIMELINE_REFERENCES):
        TIMELINE_REFERENCES.append((compiled, url_name))


# --- end panels -----------------------------------------------------------------------------------

# --- Columns and filters other apps add to the customer list ---------------------------------------
# Likewise for the changelist (in the app's admin.py):
#     @register_customer_column(select_related=("health",))
#     @admin.display(description="Health", ordering="health__score")
#     def health(customer) -> str: ...            # one value per row, from the joined relation: no query per row
#     register_customer_list_filter(HealthBandFilter)   # a SimpleListFilter
# Columns come after crm's own; `select_related` joins what they read, so the changelist's query count stays flat.
CUSTOMER_COLUMNS: list[Callable] = []
CUSTOMER_LIST_FILTERS: list = []
CUSTOMER_LIST_SELECT_RELATED: list[str] = []


def register_customer_column(column: Callable | None = None, *, select_related: tuple[str, ...] = ()):
    def register(column: Callable) -> Callable:
        if column not in CUSTOMER_COLUMNS:
            CUSTOMER_COLUMNS.append(column)
        for relation in select_related:
            if relation not in CUSTOMER_LIST_SELECT_RELATED:
                CUSTOMER_LIST_SELECT_RELATED.append(relation)
        return column

    return register(column) if column is not None else register


def register_customer_list_filter(list_filter):
    if list_filter not in CUSTOMER_LIST_FILTERS:
        CUSTOMER_LIST_FILTERS.append(list_filter)
    return list_filter


# --- end columns ----------------------------------------------------------------------------------

# --- Panels other apps add to the admin's home page -------------------------------------------------
# The home page (templates/admin/index.html) shows these above the list of models, by `order` then registration:
#     @register_home_panel(order=30, permission="tickets.view_ticket")   # or plain @register_home_panel
#     def my_panel(request) -> tuple[str, str] | None:   # (title, safe HTML), or None to show nothing to this user
# A panel is only asked by a signed-in staff user who has its `permission` (if it names one).
# A panel runs a fixed number of queries whatever the size of the data it summarises. What "my" means (the
# signed-in user's book, a team lead's team's) is crm.home.home_owner_ids(request).
# Orders used: 10 today's work, 20 my book, 30 tickets, 40 surveys, 50+ success.
HOME_PANELS: list[Callable] = []
HOME_PANEL_ORDER: dict[Callable, int] = {}
HOME_PANEL_PERMISSION: dict[Callable, str | None] = {}


def register_home_panel(panel: Callable | None = None, *, order: int = 100, permission: str | None = None):
    def register(panel: Callable) -> Callable:
        if panel not in HOME_PANELS:
            HOME_PANELS.append(panel)
        HOME_PANEL_ORDER[panel] = order
        HOME_PANEL_PERMISSION[panel] = permission
        HOME_PANELS.sort(key=lambda p: HOME_PANEL_ORDER.get(p, 100))  # stable: registration order within an order
        return panel

    return register(panel) if panel is not None else register


def render_home_panels(request) -> str:
    user = getattr(request, "user", None)
    if user is None or not (user.is_authenticated and user.is_staff):
        return ""
    parts = []
    for panel in HOME_PANELS:
        permission = HOME_PANEL_PERMISSION.get(panel)
        if permission and not user.has_perm(permission):
            continue
        shown = panel(request)
        if shown:
            title, html = shown
            slug = getattr(panel, "__name__", "panel").replace("_", "-")
            parts.append(
                format_html(
                    '<div class="module crm-home-panel" id="home-{}"><h2>{}</h2><div class="crm-home-body">{}</div>'
                    "</div>",
                    slug,
                    title,
                    html,
                )
            )
    return mark_safe("".join(parts))  # noqa: S308  (each part was built by format_html)


# --- end home panels --------------------------------------------------------------------------------
