"""Forms of the security pages: mitigations, the exposure assessment and the legal clocks'
actions. The services (incidents.security.mitigations and .clocks) validate again; these only
turn what was typed into values."""

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from incidents.forms import DateTimeField, DateTimeInput, active_users
from incidents.models import Communication, ExposureAssessment, Obligation
from incidents.security import mitigations as security


class ExplanationsField(forms.CharField):
    """A public explanation in other languages, one `language code: text` a line
    (zh-hans: 新用户注册暂时受限。); the service checks the codes and the texts."""

    widget = forms.Textarea(attrs={"rows": 2})

    def to_python(self, value):
        texts = {}
        for line in (super().to_python(value) or "").splitlines():
            if not line.strip():
                continue
            language, sep, text = line.partition(":")
            if not sep or not language.strip() or not text.strip():
                raise forms.ValidationError(
                    _("Write one explanation a line as “language code: text”, e.g. zh-hans: 新用户注册暂时受限。")
                )
            texts[language.strip().lower()] = text.strip()
        return texts

    def prepare_value(self, value):
        if isinstance(value, dict):
            return "\n".join(f"{language}: {text}" for language, text in value.items())
        return value


class MitigationForm(forms.Form):
    title = forms.CharField(
        label=gettext_lazy("Title"),
        max_length=200,
        help_text=gettext_lazy("What is restricted, e.g. “New sign-ups: +49 numbers only”"),
    )
    description = forms.CharField(
        label=gettext_lazy("Description"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("What it does (Markdown)"),
    )
    affects = forms.CharField(max_length=300, required=False, label=gettext_lazy("Who it affects"))
    owner = forms.ModelChoiceField(
        label=gettext_lazy("Owner"), queryset=None, required=False, empty_label=gettext_lazy("Nobody yet")
    )
    started_at = DateTimeField(
        label=gettext_lazy("Started at"),
        required=False,
        widget=DateTimeInput(),
        help_text=gettext_lazy("Empty means now"),
    )
    review_by = DateTimeField(
        label=gettext_lazy("Review by"),
        required=False,
        widget=DateTimeInput(),
        help_text=gettext_lazy("When to decide to keep or lift it"),
    )
    public = forms.BooleanField(required=False, label=gettext_lazy("Public: explain it on the status page"))
    public_explanation = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        label=gettext_lazy("Public explanation"),
        help_text=gettext_lazy("Plain language for users; required when public"),
    )
    public_explanations = ExplanationsField(
        required=False,
        label=gettext_lazy("Public explanation in other languages"),
        help_text=gettext_lazy(
            "One a line, “language code: text” (zh-hans: 新用户注册暂时受限。); the status page in that"
            " language and updates written in it show it"
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = active_users()

    def clean(self):
        data = super().clean()
        if data.get("public") and not (data.get("public_explanation") or "").strip():
            self.add_error("public_explanation", _("A public mitigation needs a plain-language explanation."))
        return data


class ExposureForm(forms.Form):
    certainty = forms.ChoiceField(label=gettext_lazy("Certainty"), choices=ExposureAssessment.Certainty.choices)
    categories = forms.MultipleChoiceField(
        choices=ExposureAssessment.Category.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=gettext_lazy("Data categories"),
    )
    people_affected = forms.IntegerField(
        label=gettext_lazy("People affected"), min_value=0, max_value=security.MAX_COUNT, required=False
    )
    records_affected = forms.IntegerField(
        label=gettext_lazy("Records affected"), min_value=0, max_value=security.MAX_COUNT, required=False
    )
    confidence = forms.ChoiceField(
        label=gettext_lazy("Confidence"),
        choices=ExposureAssessment.Confidence.choices,
        help_text=gettext_lazy("Of the estimates"),
    )
    jurisdictions = forms.CharField(
        label=gettext_lazy("Jurisdictions"),
        required=False,
        max_length=500,
        help_text=gettext_lazy("Country codes, comma-separated, e.g. DE, FR, CN"),
    )
    encrypted = forms.NullBooleanField(
        required=False,
        widget=forms.Select(
            choices=[("unknown", gettext_lazy("Unknown")), ("true", gettext_lazy("Yes")), ("false", gettext_lazy("No"))]
        ),
        label=gettext_lazy("Data was encrypted"),
    )
    found_by = forms.ChoiceField(
        choices=ExposureAssessment.Source.choices, label=gettext_lazy("How exposure was found")
    )

    def clean_jurisdictions(self):
        codes = [c.strip().upper() for c in self.cleaned_data["jurisdictions"].replace(";", ",").split(",")]
        codes = [c for c in codes if c]
        bad = [c for c in codes if not security.COUNTRY_CODE.fullmatch(c)]
        if bad:
            raise forms.ValidationError(_("Not a two-letter country code: %(codes)s.") % {"codes": ", ".join(bad)})
        return codes


class AwarenessForm(forms.Form):
    value = DateTimeField(widget=DateTimeInput(attrs={"aria-label": "Aware at"}), label="Aware at")
    reason = forms.CharField(max_length=300, help_text="How you know (logged)")


class StartClockForm(forms.Form):
    obligation = forms.ModelChoiceField(queryset=Obligation.objects.filter(active=True), to_field_name="key")
    started_at = DateTimeField(required=False, widget=DateTimeInput())
    target_hours = forms.IntegerField(required=False, min_value=1, max_value=24 * 366)


class SubmissionForm(forms.Form):
    stage = forms.CharField(max_length=60)
    submitted_at = DateTimeField(required=False, widget=DateTimeInput())
    reference = forms.CharField(max_length=200, required=False)
    communication = forms.ModelChoiceField(queryset=Communication.objects.none(), required=False)
    notes = forms.CharField(required=False, max_length=5000)

    def __init__(self, *args, incident, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["communication"].queryset = incident.communications.all()


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=1000)


class CorrectStartForm(forms.Form):
    started_at = DateTimeField(widget=DateTimeInput())
    reason = forms.CharField(max_length=300)


class LiftForm(forms.Form):
    note = forms.CharField(required=False, max_length=500)
