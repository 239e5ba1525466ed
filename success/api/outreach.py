"""REST API v1 for proactive outreach and the email templates it sends:

    GET/POST            /api/v1/outreach-rules/?enabled=        rules (the shipped plays included)
    GET/PUT/PATCH/DELETE /api/v1/outreach-rules/{id}/
    POST                /api/v1/outreach-rules/{id}/preview/             the dry run: changes nothing
    GET                 /api/v1/outreach-records/?rule=&customer=&result=
    GET/POST            /api/v1/email-templates/
    GET/PUT/PATCH/DELETE /api/v1/email-templates/{id}/
    POST                /api/v1/email-templates/{id}/preview/            rendered for a real customer

Writes go through success.outreach.definitions.outreach_rule_save and crm.email_templates.email_template_save (a
wrong field is a 400 naming it, nothing changed). Roles: every role reads and previews (a preview needs only the
view permission); writing rules and templates is for admins (CSMs read them, accounts.roles).
"""

from django.db.models import ProtectedError
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from accounts.permissions import RolePermissions
from crm.api.errors import DETAIL_ERRORS, ERROR_404, LIST_ERRORS, WRITE_ERRORS
from crm.api.serializers import InputSerializer
from crm.api.views import ApiViewSet, location_header
from crm.email_templates import email_template_save, template_render
from crm.filters import IdFilter, choice_filter
from crm.models import Contact, Customer, EmailTemplate
from success.outreach import selectors
from success.outreach.definitions import crontab_text, outreach_rule_save
from success.outreach.models import OutreachEvent, OutreachRecord, OutreachResult, OutreachRule, OutreachTrigger
from success.outreach.preview import rule_preview
from tickets.selectors import business_calendar_list


class ViewToPreview(RolePermissions):
    """A preview is a POST that changes nothing: it needs the model's view permission, like a GET."""

    perms_map = {**RolePermissions.perms_map, "POST": RolePermissions.perms_map["GET"]}


# --- Rules ---------------------------------------------------------------------------------------------------


class OutreachRuleSerializer(serializers.ModelSerializer):
    crontab = serializers.SerializerMethodField(help_text='Schedule rules: "m h dom mon dow" in customer local time.')
    created_by = serializers.EmailField(source="created_by.email", read_only=True, allow_null=True, default=None)
    event = serializers.ChoiceField(OutreachEvent.choices, allow_blank=True, read_only=True)

    class Meta:
        model = OutreachRule
        fields = (
            "id",
            "name",
            "description",
            "enabled",
            "trigger",
            "crontab",
            "event",
            "event_params",
            "conditions",
            "actions",
            "cooldown_days",
            "cap_per_run",
            "quiet_hours",
            "holiday_calendar",
            "shipped_key",
            "created_by",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    def get_crontab(self, obj) -> str:
        return crontab_text(obj.schedule)


class OutreachRuleInputSerializer(InputSerializer):
    read_only_names = ("id", "shipped_key", "created_by", "created_at", "updated_at")

    name = serializers.CharField(max_length=100)
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    enabled = serializers.BooleanField(required=False)
    trigger = serializers.ChoiceField(OutreachTrigger.choices, required=False)
    crontab = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text='Schedule rules: "minute hour day-of-month month day-of-week" in each customer\'s local time, '
        'e.g. "0 9 * * 1-5".',
    )
    event = serializers.ChoiceField(OutreachEvent.choices, required=False, allow_blank=True)
    event_params = serializers.JSONField(required=False, help_text='e.g. {"days": 90}, {"band": "detractor"}.')
    conditions = serializers.JSONField(
        required=False,
        help_text='{"all": [...]} / {"any": [...]} / {"field", "op", "value"} (success.outreach.conditions).',
    )
    actions = serializers.JSONField(help_text='A list, e.g. [{"action": "task", "title": "Call them"}].')
    cooldown_days = serializers.IntegerField(required=False, min_value=-(10**6), max_value=10**6)
    cap_per_run = serializers.IntegerField(required=False, allow_null=True, min_value=-(10**6), max_value=10**6)
    quiet_hours = serializers.BooleanField(required=False)
    holiday_calendar = serializers.PrimaryKeyRelatedField(
        queryset=business_calendar_list(),
        required=False,
        allow_null=True,
        help_text="With quiet hours: the id of a business calendar whose holidays (in each customer's local date) "
        "are skipped like weekends; null: none.",
    )


class PreviewInputSerializer(InputSerializer):
    limit = serializers.IntegerField(required=False, min_value=1, max_value=1000, help_text="Default 200.")


class PreviewSerializer(serializers.Serializer):
    rule = serializers.IntegerField()
    at = serializers.DateTimeField()
    limit = serializers.IntegerField()
    truncated = serializers.BooleanField()
    totals = serializers.DictField(help_text="matching, in_cooldown, listed, acting, skipped, emails, ...")
    customers = serializers.ListField(child=serializers.DictField(), help_text="See success.outreach.preview.")


class OutreachRuleFilterSet(filters.FilterSet):
    enabled = filters.BooleanFilter(help_text="Only enabled (true) or disabled (false) rules.")

    class Meta:
        model = OutreachRule
        fields = []


@extend_schema(tags=["outreach"])
class OutreachRuleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, ApiViewSet):
    """Proactive outreach rules (plays), the shipped ones included (disabled until an admin enables them)."""

    permission_model = OutreachRule
    serializer_class = OutreachRuleSerializer
    filterset_class = OutreachRuleFilterSet
    ordering = ("name",)
    ordering_fields = ("name", "updated_at")

    def get_queryset(self):
        return selectors.rule_list()

    def get_permissions(self):
        if self.action == "preview":
            return [ViewToPreview()]
        return super().get_permissions()

    def _save(self, request, rule=None, partial=False):
        serializer = OutreachRuleInputSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if "crontab" in data:
            data["schedule"] = data.pop("crontab")
        return outreach_rule_save(rule=rule, actor=self.actor, **data)

    @extend_schema(summary="List outreach rules", responses={200: OutreachRuleSerializer(many=True), **LIST_ERRORS})
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Get an outreach rule", responses={200: OutreachRuleSerializer, **DETAIL_ERRORS})
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Create an outreach rule",
        request=OutreachRuleInputSerializer,
        responses={201: OutreachRuleSerializer, **WRITE_ERRORS},
        description="400 naming the field: no action, an unknown template variable, a condition on an unknown "
        "field or with a value of the wrong type, a crontab that does not parse, cooldown_days < 0, "
        "cap_per_run 0, a schedule rule without crontab, an event rule without event.",
    )
    def create(self, request, *args, **kwargs):
        rule = self._save(request)
        return Response(
            OutreachRuleSerializer(selectors.rule_list().get(pk=rule.pk)).data,
            status=status.HTTP_201_CREATED,
            headers=location_header(request, "outreach-rule-detail", rule.pk),
        )

    @extend_schema(
        summary="Replace an outreach rule",
        request=OutreachRuleInputSerializer,
        responses={200: OutreachRuleSerializer, **WRITE_ERRORS, 404: ERROR_404},
    )
    def update(self, request, *args, **kwargs):
        rule = self._save(request, self.get_object())
        return Response(OutreachRuleSerializer(selectors.rule_list().get(pk=rule.pk)).data)

    @extend_schema(
        summary="Change some fields of an outreach rule (e.g. enable it)",
        request=OutreachRuleInputSerializer(partial=True),
        responses={200: OutreachRuleSerializer, **WRITE_ERRORS, 404: ERROR_404},
    )
    def partial_update(self, request, *args, **kwargs):
        rule = self._save(request, self.get_object(), partial=True)
        return Response(OutreachRuleSerializer(selectors.rule_list().get(pk=rule.pk)).data)

    @extend_schema(
        summary="Delete an outreach rule",
        responses={204: None, **WRITE_ERRORS, 404: ERROR_404},
        description="400 when the rule has outreach records: disable it instead.",
    )
    def destroy(self, request, *args, **kwargs):
        try:
            return super().destroy(request, *args, **kwargs)
        except ProtectedError as exc:
            raise ValidationError({"non_field_errors": ["This rule has acted already: disable it instead."]}) from exc

    @extend_schema(
        summary="Preview an outreach rule (dry run)",
        request=PreviewInputSerializer,
        responses={200: PreviewSerializer, **WRITE_ERRORS, 404: ERROR_404},
        description="The customers the rule would act on now, what it would do to each, and who would be "
        "skipped and why (cooldown, cap; per contact: unsubscribed, bounced, complained, fatigued). Changes "
        "nothing. Works for disabled rules.",
    )
    @action(detail=True, methods=["post"])
    def preview(self, request, *args, **kwargs):
        rule = self.get_object()
        serializer = PreviewInputSerializer(data=request.data if isinstance(request.data, dict) else {})
        serializer.is_valid(raise_exception=True)
        result = rule_preview(rule, limit=serializer.validated_data.get("limit", 200))
        return Response(PreviewSerializer(result).data)


# --- Records -------------------------------------------------------------------------------------------------


class OutreachRecordSerializer(serializers.ModelSerializer):
    rule_name = serializers.CharField(source="rule.name", read_only=True)
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    contact_email = serializers.EmailField(source="contact.email", read_only=True, allow_null=True, default=None)

    class Meta:
        model = OutreachRecord
        fields = (
            "id",
            "rule",
            "rule_name",
            "customer",
            "customer_name",
            "contact",
            "contact_email",
            "action_index",
            "action_type",
            "period_key",
            "result",
            "reason",
            "outbound_email",
            "task",
            "created_at",
        )
        read_only_fields = fields


class OutreachRecordFilterSet(filters.FilterSet):
    rule = IdFilter(field_name="rule_id", help_text="The rule's id.")
    customer = IdFilter(field_name="customer_id", help_text="The customer's id.")
    result = choice_filter(OutreachResult.choices, help_text="One or more results.")

    class Meta:
        model = OutreachRecord
        fields = []


@extend_schema(tags=["outreach"])
class OutreachRecordViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """What outreach rules did: one record per action, customer (and contact) and period."""

    permission_model = OutreachRecord
    serializer_class = OutreachRecordSerializer
    filterset_class = OutreachRecordFilterSet
    ordering = ("-created_at",)
    ordering_fields = ("created_at",)

    def get_queryset(self):
        return selectors.record_list()

    @extend_schema(summary="List outreach records", responses={200: OutreachRecordSerializer(many=True), **LIST_ERRORS})
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Get an outreach record", responses={200: OutreachRecordSerializer, **DETAIL_ERRORS})
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)


# --- Email templates -----------------------------------------------------------------------------------------


class EmailTemplateSerializer(serializers.ModelSerializer):
    class Meta:
        model = EmailTemplate
        fields = ("id", "name", "subject", "text_body", "html_body", "created_at", "updated_at")
        read_only_fields = fields


class EmailTemplateInputSerializer(InputSerializer):
    read_only_names = ("id", "created_at", "updated_at")

    name = serializers.CharField(max_length=100)
    subject = serializers.CharField(max_length=300)
    text_body = serializers.CharField(max_length=50000)
    html_body = serializers.CharField(max_length=100000, required=False, allow_blank=True)


class TemplatePreviewInputSerializer(InputSerializer):
    customer = serializers.PrimaryKeyRelatedField(queryset=Customer.objects.all(), help_text="The customer's id.")
    contact = serializers.PrimaryKeyRelatedField(
        queryset=Contact.objects.all(), required=False, help_text="One of its contacts; default: the primary."
    )


class RenderedSerializer(serializers.Serializer):
    subject = serializers.CharField()
    text = serializers.CharField()
    html = serializers.CharField(allow_blank=True)
    contact = serializers.IntegerField(allow_null=True)


@extend_schema(tags=["outreach"])
class EmailTemplateViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, ApiViewSet):
    """Email templates (outreach emails, playbook email steps) with customer, contact and CSM variables."""

    permission_model = EmailTemplate
    serializer_class = EmailTemplateSerializer
    ordering = ("name",)
    ordering_fields = ("name", "updated_at")

    def get_queryset(self):
        return EmailTemplate.objects.all()

    def get_permissions(self):
        if self.action == "preview":
            return [ViewToPreview()]
        return super().get_permissions()

    def _save(self, request, template=None, partial=False):
        serializer = EmailTemplateInputSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return email_template_save(template=template, actor=self.actor, **serializer.validated_data)

    @extend_schema(summary="List email templates", responses={200: EmailTemplateSerializer(many=True), **LIST_ERRORS})
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Get an email template", responses={200: EmailTemplateSerializer, **DETAIL_ERRORS})
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Create an email template",
        request=EmailTemplateInputSerializer,
        responses={201: EmailTemplateSerializer, **WRITE_ERRORS},
        description="400 naming the field for an unknown variable (e.g. {custmer.name}) or a stray brace.",
    )
    def create(self, request, *args, **kwargs):
        template = self._save(request)
        return Response(
            EmailTemplateSerializer(template).data,
            status=status.HTTP_201_CREATED,
            headers=location_header(request, "email-template-detail", template.pk),
        )

    @extend_schema(
        summary="Replace an email template",
        request=EmailTemplateInputSerializer,
        responses={200: EmailTemplateSerializer, **WRITE_ERRORS, 404: ERROR_404},
    )
    def update(self, request, *args, **kwargs):
        return Response(EmailTemplateSerializer(self._save(request, self.get_object())).data)

    @extend_schema(
        summary="Change some fields of an email template",
        request=EmailTemplateInputSerializer(partial=True),
        responses={200: EmailTemplateSerializer, **WRITE_ERRORS, 404: ERROR_404},
    )
    def partial_update(self, request, *args, **kwargs):
        return Response(EmailTemplateSerializer(self._save(request, self.get_object(), partial=True)).data)

    @extend_schema(
        summary="Delete an email template",
        responses={204: None, **WRITE_ERRORS, 404: ERROR_404},
        description="400 while a playbook step or an outreach rule uses it.",
    )
    def destroy(self, request, *args, **kwargs):
        template = self.get_object()
        used = [
            rule.name
            for rule in OutreachRule.objects.only("name", "actions")
            if any(a.get("template") == template.pk for a in rule.actions if isinstance(a, dict))
        ]
        if used:
            raise ValidationError({"non_field_errors": [f"Used by the outreach rule(s) {', '.join(used)}."]})
        try:
            template.delete()
        except ProtectedError as exc:
            raise ValidationError({"non_field_errors": ["Used by a playbook step."]}) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Render an email template for a real customer",
        request=TemplatePreviewInputSerializer,
        responses={200: RenderedSerializer, **WRITE_ERRORS, 404: ERROR_404},
    )
    @action(detail=True, methods=["post"])
    def preview(self, request, *args, **kwargs):
        template = self.get_object()
        serializer = TemplatePreviewInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        customer = Customer.objects.select_related("owner").get(pk=serializer.validated_data["customer"].pk)
        contact = serializer.validated_data.get("contact")
        if contact is not None and contact.customer_id != customer.pk:
            raise ValidationError({"contact": ["Not a contact of this customer."]})
        contact = contact or customer.contacts.order_by("-is_primary", "id").first()
        rendered = template_render(template=template, customer=customer, contact=contact)
        return Response(
            {
                "subject": rendered.subject,
                "text": rendered.text,
                "html": rendered.html,
                "contact": contact and contact.pk,
            }
        )


def register_routes(router) -> None:
    router.register("outreach-rules", OutreachRuleViewSet, basename="outreach-rule")
    router.register("outreach-records", OutreachRecordViewSet, basename="outreach-record")
    router.register("email-templates", EmailTemplateViewSet, basename="email-template")
