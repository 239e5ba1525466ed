"""Admin of QBRs: the cadence per tier (editable in the list), and QBRs to look at (writes go through the services
via the API for now; scheduling from the admin, the CSM's calendar list and the printable pack come next)."""

from django.contrib import admin

from success.qbrs.models import Qbr, QbrCadence


@admin.register(QbrCadence)
class QbrCadenceAdmin(admin.ModelAdmin):
    list_display = ("tier", "every_months", "updated_at")
    list_editable = ("every_months",)
    readonly_fields = ("updated_at",)

    def has_delete_permission(self, request, obj=None):
        return False  # a tier without a row falls back to the built-in default; set "every" empty for none


@admin.register(Qbr)
class QbrAdmin(admin.ModelAdmin):
    list_display = ("customer", "starts_at", "timezone", "status", "owner", "origin", "sequence")
    list_filter = ("status", "origin")
    list_select_related = ("customer", "owner")
    search_fields = ("customer__name",)
    date_hierarchy = "starts_at"
    raw_id_fields = ("customer", "owner", "contacts", "staff")
    readonly_fields = [f.name for f in Qbr._meta.concrete_fields] + ["contacts", "staff"]

    def has_add_permission(self, request):
        return False  # scheduling sends invites: through the services (API), never a bare save

    def has_delete_permission(self, request, obj=None):
        return False
