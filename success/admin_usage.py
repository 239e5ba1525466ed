"""Product usage in the admin: read-only lists (events arrive through the API; rollups are computed)."""

from django.contrib import admin

from crm.admin_changelist import FastChangelistMixin
from success.usage.models import UsageDaily, UsageDailyName, UsageEvent


class ReadOnlyAdmin(FastChangelistMixin, admin.ModelAdmin):
    """Big tables: estimated counts, no facets (crm.admin_changelist); nothing to add, change or delete."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(UsageEvent)
class UsageEventAdmin(ReadOnlyAdmin):
    list_display = ("occurred_at", "customer", "name", "contact_email", "quantity", "external_id", "received_at")
    list_select_related = ("customer",)
    search_fields = ("=external_id", "=contact_email", "=name")
    raw_id_fields = ("customer", "contact")


@admin.register(UsageDaily)
class UsageDailyAdmin(ReadOnlyAdmin):
    list_display = ("day", "customer", "active_users", "events", "quantity")
    list_select_related = ("customer",)
    raw_id_fields = ("customer",)
    date_hierarchy = "day"


@admin.register(UsageDailyName)
class UsageDailyNameAdmin(ReadOnlyAdmin):
    list_display = ("day", "customer", "name", "events", "quantity")
    list_select_related = ("customer",)
    raw_id_fields = ("customer",)
