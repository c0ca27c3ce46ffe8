from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from .models import StepRun


class RunbookTextForm(forms.Form):
    text = forms.CharField(
        label=_("Text"),
        widget=forms.Textarea(attrs={"rows": 30, "spellcheck": "true", "class": "mono"}),
        help_text=_("Markdown with YAML front matter; see docs/runbooks.md"),
    )


class StepChangeForm(forms.Form):
    status = forms.ChoiceField(choices=StepRun.Status.choices, required=False)
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    reason = forms.CharField(required=False, max_length=1000)
    assignee = forms.ModelChoiceField(queryset=None, required=False)
    unassign = forms.BooleanField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = get_user_model().objects.filter(is_active=True)


class MoveStepsForm(forms.Form):
    from_user = forms.ModelChoiceField(queryset=None)
    to_user = forms.ModelChoiceField(queryset=None)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("from_user", "to_user"):
            self.fields[name].queryset = get_user_model().objects.filter(is_active=True)
