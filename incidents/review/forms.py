"""Forms of the review pages: starting and editing the review, reopening it, action items,
and the filters of the follow-ups and reviews pages. incidents.review.services validates again."""

from django import forms
from django.utils.translation import gettext_lazy, pgettext_lazy

from incidents.forms import DateTimeField, DateTimeInput, active_users
from incidents.models import ActionItem
from incidents.review import services as review


class Markdown(forms.CharField):
    """Text from a textarea: browsers send CRLF line ends, stored text has LF ones (else an
    untouched text would count as a change)."""

    def to_python(self, value):
        value = super().to_python(value)
        return value.replace("\r\n", "\n").replace("\r", "\n") if value else value


class StartReviewForm(forms.Form):
    owner = forms.ModelChoiceField(
        label=gettext_lazy("Run by"),
        queryset=None,
        required=False,
        empty_label=gettext_lazy("Nobody yet"),
        help_text=gettext_lazy("Who runs the review (they may also publish it)"),
    )
    meeting_at = DateTimeField(
        label=gettext_lazy("Review meeting"), required=False, widget=DateTimeInput(), help_text=gettext_lazy("Optional")
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = active_users()


class ReviewForm(StartReviewForm):
    body = Markdown(
        label=gettext_lazy("Review text"),
        required=False,
        max_length=review.MAX_BODY,
        widget=forms.Textarea(attrs={"rows": 24}),
        help_text=gettext_lazy("Markdown"),
    )
    # The version the editor loaded: a save over someone else's newer one is refused.
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=0, max_value=2**31 - 1)

    field_order = ["body", "owner", "meeting_at", "version"]


class ReopenForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Why reopen it"), max_length=1000, help_text=gettext_lazy("Logged on the timeline")
    )


class ActionItemForm(forms.Form):
    title = forms.CharField(
        label=gettext_lazy("Title"), max_length=200, help_text=gettext_lazy("What must be done, in a few words")
    )
    owner = forms.ModelChoiceField(
        label=gettext_lazy("Owner"), queryset=None, required=False, empty_label=gettext_lazy("Nobody yet")
    )
    due_on = forms.DateField(
        label=gettext_lazy("Due"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    priority = forms.ChoiceField(
        label=gettext_lazy("Priority"), choices=ActionItem.Priority.choices, initial=ActionItem.Priority.MEDIUM
    )
    tracker_url = forms.URLField(
        label=gettext_lazy("Ticket"),
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text=gettext_lazy("Its address in your tracker, if any"),
    )
    description = Markdown(
        label=gettext_lazy("Description"),
        required=False,
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("Markdown"),
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "item_%s")  # on the review page beside the review's own fields
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = active_users()


class FollowUpFilter(forms.Form):
    status = forms.ChoiceField(
        label=gettext_lazy("Status"),
        required=False,
        choices=[
            ("open", pgettext_lazy("action item status", "Open")),
            ("done", gettext_lazy("Done")),
            ("wont_do", gettext_lazy("Won’t do")),
            ("all", gettext_lazy("All")),
        ],
    )
    mine = forms.BooleanField(label=gettext_lazy("Mine"), required=False)
    overdue = forms.BooleanField(label=gettext_lazy("Overdue"), required=False)


PERIODS = [(30, gettext_lazy("Last 30 days")), (90, gettext_lazy("Last 90 days")), (365, gettext_lazy("Last year"))]


class PeriodForm(forms.Form):
    days = forms.TypedChoiceField(label=gettext_lazy("Period"), choices=PERIODS, coerce=int, required=False)
