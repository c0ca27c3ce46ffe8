"""The admin for communications. Once submitted, a communication's content is read-only here: a
published one is what the status page and subscribers were told, and approval is for the text
that goes out. A draft's edits go through incidents.comms.services.edit (validated and logged);
the workflow (review, approval, publishing) is in the app."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from incidents import access
from incidents.admin import ReadOnlyStackedInline
from incidents.comms import delivery
from incidents.comms import services as communications
from incidents.comms.models import AudienceDelivery, Communication, CommunicationTemplate, CommunicationTranslation

# What communications.edit changes, and the admin offers on a draft.
CONTENT = ("audience", "title", "body", "language", "public_status", "public_impact", "public_title", "affected")


class TranslationInline(ReadOnlyStackedInline):
    """Read-only: translations are part of what is approved and published; the app sets them
    (communications.set_translation), which sends an approved update back to review."""

    model = CommunicationTranslation


class CommunicationAdminForm(forms.ModelForm):
    class Meta:
        model = Communication
        fields = list(CONTENT)

    def clean(self):
        cleaned = super().clean()
        content = {name: cleaned[name] for name in self.changed_data if name in CONTENT and name in cleaned}
        try:
            communications.check_fields(dict(content))
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        return cleaned


@admin.register(Communication)
class CommunicationAdmin(admin.ModelAdmin):
    """Read and audit communications here; fix a draft's wording. Drafting, approval and
    publishing are in the app."""

    form = CommunicationAdminForm
    list_display = ["incident", "audience", "status", "author", "approved_by", "published_at"]
    list_filter = ["audience", "status"]
    search_fields = ["body", "title"]
    readonly_fields = [
        "incident",
        "status",
        "content_version",
        "template",
        "author",
        "approved_by",
        "approved_at",
        "scheduled_for",
        "published_at",
        "published_by",
        "created_at",
        "updated_at",
    ]
    inlines = [TranslationInline]

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is None or obj.status != Communication.Status.DRAFT:
            readonly += CONTENT
        return readonly

    def has_add_permission(self, request):
        # Drafting picks the public status, the template and the author, and logs the draft.
        return False

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or access.can_write_communication(request.user, obj.incident))

    def has_delete_permission(self, request, obj=None):
        # Only a draft: a submitted one is on the record, a published one on the status page.
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or obj.status == Communication.Status.DRAFT)

    def get_actions(self, request):
        # A bulk delete would skip the rule above.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request, obj, form, change):
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in CONTENT}
        if changes:
            communications.edit(obj, request.user, **changes)


@admin.register(CommunicationTemplate)
class CommunicationTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "audience", "public_status", "language"]
    list_filter = ["audience"]


@admin.register(AudienceDelivery)
class AudienceDeliveryAdmin(admin.ModelAdmin):
    """Customer, regulator and partner deliveries: what was sent to whom, what is retrying and
    why it failed. Read-only; "send again" makes failed and pending rows due now. The lists
    themselves are managed on /comms/recipients/ and in the API, where addresses are checked."""

    list_display = [
        "id",
        "communication",
        "kind",
        "address",
        "list_name",
        "status",
        "attempts",
        "last_error",
        "sent_at",
    ]
    list_filter = ["status", "kind"]
    search_fields = ["address", "name", "list_name", "last_error"]
    list_select_related = ["communication__incident"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in AudienceDelivery._meta.fields]
    actions = ["send_again"]

    @admin.action(description="Send again now (failed or pending rows)")
    def send_again(self, request, queryset):
        count = delivery.OUTBOX.retry_now(queryset.values_list("pk", flat=True))
        self.message_user(request, f"{count} deliveries queued again.")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
