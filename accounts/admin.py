"""Admin for staff users, teams and API keys. Writes on API keys go through accounts.services.

The admin's own login page is replaced by a redirect to allauth's login, so MFA applies to the admin too."""

from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme

from accounts.mfa import security_settings
from accounts.models import ApiKey, Role, SecuritySettings, Team, User
from accounts.roles import ROLE_NAMES, role_group, user_role
from accounts.services import api_key_create, api_key_revoke, api_key_update

# --- Admin login through allauth ------------------------------------------------------------------


def staff_admin_login(request, extra_context=None):
    """Replaces AdminSite.login: send people to allauth's login (password + MFA), then back to `next`."""
    next_url = request.GET.get(REDIRECT_FIELD_NAME) or reverse("admin:index")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = reverse("admin:index")
    if request.user.is_authenticated:
        if admin.site.has_permission(request):
            return redirect(next_url)
        # Signed in but not (or no longer) allowed in the admin: say so rather than loop through the login.
        return render(request, "accounts/admin_no_access.html", status=403)
    return redirect(f"{reverse('account_login')}?{urlencode({REDIRECT_FIELD_NAME: next_url})}")


admin.site.login = staff_admin_login


# --- Users ---------------------------------------------------------------------------------------


class AccountTypeFilter(admin.SimpleListFilter):
    """Staff people by default; API key service accounts only when asked for."""

    title = "account type"
    parameter_name = "account_type"
    default = "staff"

    def lookups(self, request, model_admin):
        return [("staff", "Staff"), ("service", "API key service accounts"), ("all", "All")]

    def choices(self, changelist):
        current = self.value() or self.default
        for lookup, title in self.lookup_choices:
            yield {
                "selected": current == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value() or self.default
        if value == "staff":
            return queryset.filter(is_service_account=False)
        if value == "service":
            return queryset.filter(is_service_account=True)
        return queryset


class RoleFilter(admin.SimpleListFilter):
    title = "role"
    parameter_name = "role"

    def lookups(self, request, model_admin):
        return [*Role.choices, ("none", "No role")]

    def queryset(self, request, queryset):
        value = self.value()
        if value in ROLE_NAMES:
            return queryset.filter(groups__name=value)
        if value == "none":
            return queryset.exclude(groups__name__in=ROLE_NAMES)
        return queryset


class StaffUserCreationForm(AdminUserCreationForm):
    role = forms.ChoiceField(
        choices=[("", "---------"), *Role.choices],
        required=False,
        help_text="Puts the user in the role's group (what they may see and do).",
    )

    class Meta:
        model = User
        fields = ("email", "full_name")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.is_staff = True  # every person with an account works in the admin

    def clean_email(self):
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("A user with this email address already exists.")
        return email


class StaffUserChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"

    def clean_email(self):
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError("A user with this email address already exists.")
        return email


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = StaffUserChangeForm
    add_form = StaffUserCreationForm
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("full_name", "time_zone")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    service_account_fieldsets = (
        (None, {"fields": ("email", "full_name", "api_key_link")}),
        ("Permissions", {"fields": ("is_active", "groups")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "full_name", "role", "usable_password", "password1", "password2"),
            },
        ),
    )
    list_display = ("email", "full_name", "role", "is_active", "last_login")
    list_filter = (AccountTypeFilter, RoleFilter, "is_active", "is_superuser", "groups")
    search_fields = ("email", "full_name")
    ordering = ("email",)
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description="role")
    def role(self, obj):
        return user_role(obj) or "-"

    @admin.display(description="API key")
    def api_key_link(self, obj):
        key = ApiKey.objects.filter(user=obj).first()
        if key is None:
            return "-"
        return format_html('<a href="{}">{}</a>', reverse("admin:accounts_apikey_change", args=[key.pk]), key)

    def get_fieldsets(self, request, obj=None):
        if obj is not None and obj.is_service_account:
            return self.service_account_fieldsets
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.is_service_account:
            # Managed through its API key (role, revocation), never edited by hand.
            return ("email", "full_name", "api_key_link", "is_active", "groups", "last_login", "date_joined")
        return ("last_login", "date_joined")

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        role = form.cleaned_data.get("role") if not change else None
        if role:
            form.instance.groups.add(role_group(role))

    def get_search_results(self, request, queryset, search_term):
        if request.path == reverse("admin:autocomplete"):
            # Owner / assignee pickers offer only people who can do the work.
            queryset = queryset.filter(is_active=True, is_staff=True, is_service_account=False)
        return super().get_search_results(request, queryset, search_term)


# --- Teams ---------------------------------------------------------------------------------------


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "lead", "member_count")
    search_fields = ("name",)
    autocomplete_fields = ("lead", "members")
    list_select_related = ("lead",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("members", distinct=True))

    @admin.display(description="members", ordering="member_count")
    def member_count(self, obj):
        return obj.member_count


# --- API keys ------------------------------------------------------------------------------------


class RevokedFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("revoked", "Revoked")]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are created here (the raw key is shown once, as a message) and revoked, never deleted.
    The stored hash is never displayed."""

    list_display = ("name", "role", "prefix", "created_at", "last_used_at", "revoked_at", "created_by")
    list_filter = (RevokedFilter, "role")
    search_fields = ("name", "prefix")
    list_select_related = ("created_by",)
    actions = ["revoke_selected"]
    show_full_result_count = False
    readonly_after_create = ("prefix", "service_user", "created_by", "created_at", "last_used_at", "revoked_at")

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "role"]
        return ["name", "role", *self.readonly_after_create]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        if obj.revoked_at is not None:
            return ["name", "role", *self.readonly_after_create]
        return list(self.readonly_after_create)

    @admin.display(description="service user")
    def service_user(self, obj):
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:accounts_user_change", args=[obj.user_id]), obj.user.email
        )

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the row keeps the audit trail (who, when, last used)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            api_key_update(api_key=obj, name=data["name"], role=data["role"], actor=request.user)
            return
        api_key, raw_key = api_key_create(name=data["name"], role=data["role"], actor=request.user)
        # The admin goes on with `obj` (log entry, redirect): make it the created row.
        obj.__dict__.update({k: v for k, v in api_key.__dict__.items() if k != "_state"})
        obj._state.adding = False
        obj._state.db = api_key._state.db
        messages.warning(request, f"Copy this key now, it will not be shown again: {raw_key}")

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke_selected(self, request, queryset):
        revoked = 0
        for api_key in queryset.filter(revoked_at__isnull=True):
            api_key_revoke(api_key=api_key, actor=request.user)
            revoked += 1
        self.message_user(request, f"Revoked {revoked} API key(s).", messages.SUCCESS)


# --- Security settings (one row) -------------------------------------------------------------------


@admin.register(SecuritySettings)
class SecuritySettingsAdmin(admin.ModelAdmin):
    """The single row of site-wide security settings: the list goes straight to its form."""

    fields = ("mfa_required_for",)

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        return redirect(reverse("admin:accounts_securitysettings_change", args=[security_settings().pk]))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
