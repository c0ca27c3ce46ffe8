"""Seed the notification obligation catalog from shared/REGULATORY.md. Operators edit it in the
admin; these are defaults to check with counsel, not legal advice."""

from django.db import migrations


def h(name, hours, after="start", cap=None, recipient=""):
    return {"name": name, "amount": hours, "unit": "hours", "after": after, "cap_hours": cap, "recipient": recipient}


def undue(name, recipient=""):
    return {"name": name, "amount": None, "unit": None, "after": "start", "cap_hours": None, "recipient": recipient}


PERSONAL = ["account", "contact", "chat", "credentials", "payment", "logs", "other"]

CATALOG = [
    dict(key="gdpr-33", regime="EU GDPR Art. 33", recipient="Supervisory authority",
         clock_starts="Controller becomes aware of a personal-data breach",
         stages=[h("Notification", 72)], jurisdictions=["EU"],
         notes='72 h "without undue delay, where feasible"; a late notice must give reasons; information may follow in phases.'),
    dict(key="gdpr-34", regime="EU GDPR Art. 34", recipient="Affected people",
         clock_starts="Breach likely to result in a high risk to people", stages=[undue("Notice to people")],
         jurisdictions=["EU"],
         notes="Without undue delay. Exemptions: encrypted data, later mitigation, disproportionate effort (public notice instead)."),
    dict(key="uk-gdpr-33", regime="UK GDPR / ICO", recipient="ICO", clock_starts="Awareness of the breach",
         stages=[h("Notification", 72)], jurisdictions=["GB"], notes="PECR telecom providers: 24 h."),
    dict(key="nis2-23", regime="EU NIS2 Art. 23", recipient="CSIRT or competent authority",
         clock_starts="Awareness of a significant incident",
         stages=[h("Early warning", 24), h("Incident notification", 72),
                 {"name": "Final report", "amount": 1, "unit": "months", "after": "Incident notification", "cap_hours": None, "recipient": ""}],
         jurisdictions=["EU"], data_categories=[], personal_data=False,
         notes="Intermediate report on request; a progress report if still ongoing at the final report's date."),
    dict(key="dora-19", regime="EU DORA Art. 19 (Del. Reg. 2025/301 Art. 5)", recipient="Competent authority",
         clock_starts="Classification of the incident as major (capped by awareness)",
         stages=[h("Initial notification", 4, cap=24), h("Intermediate report", 72, after="Initial notification"),
                 {"name": "Final report", "amount": 1, "unit": "months", "after": "Intermediate report", "cap_hours": None, "recipient": ""}],
         jurisdictions=["EU"], personal_data=False,
         notes="Financial entities only. Initial: 4 h from classification as major and at most 24 h from awareness."),
    dict(key="sec-8k-105", regime="US SEC Form 8-K Item 1.05", recipient="Public filing (SEC)",
         clock_starts="Determination that the incident is material",
         stages=[{"name": "Form 8-K filing", "amount": 4, "unit": "business_days", "after": "start", "cap_hours": None, "recipient": ""}],
         jurisdictions=["US"], personal_data=False,
         notes="Materiality must be determined without unreasonable delay after discovery."),
    dict(key="hipaa", regime="US HIPAA 45 CFR 164.404-408", recipient="Individuals; HHS; media if over 500 in a state",
         clock_starts="Discovery of the breach",
         stages=[{"name": "Notification", "amount": 60, "unit": "days", "after": "start", "cap_hours": None, "recipient": ""}],
         jurisdictions=["US"], data_categories=["account", "contact", "chat", "payment", "other"],
         notes="HHS for fewer than 500 people: within 60 days of the end of the calendar year."),
    dict(key="circia", regime="US CIRCIA (proposed rule, not in force)", recipient="CISA",
         clock_starts="Reasonable belief that a covered incident occurred",
         stages=[h("Covered incident report", 72)], jurisdictions=["US"], personal_data=False, proposed=True,
         notes="Proposed rule, not in force. Ransom payments: 24 h."),
    dict(key="pipl-57", regime="China PIPL Art. 57", recipient="Authorities with personal-information duties; individuals",
         clock_starts="Personal information leaked, altered or lost (or may be)", stages=[undue("Notification")],
         jurisdictions=["CN"],
         notes="Immediately (no hour figure). Individual notice may be skipped if harm is avoided, unless ordered."),
    dict(key="cn-incident-cii", regime="China cybersecurity incident reporting measures — critical information infrastructure",
         recipient="Protection department and public security", clock_starts="Operator discovers the incident",
         stages=[h("Report", 1)], jurisdictions=["CN"], personal_data=False,
         notes='In force 2025-11-01. Applies at "relatively major" grade or above; details may follow.'),
    dict(key="cn-incident-other", regime="China cybersecurity incident reporting measures — other network operators",
         recipient="Provincial cyberspace administration", clock_starts="Operator discovers the incident",
         stages=[h("Report", 4)], jurisdictions=["CN"], personal_data=False,
         notes='"Relatively major" grade or above, e.g. personal information of over 1 million people leaked.'),
    dict(key="sg-pdpa", regime="Singapore PDPA s26D", recipient="PDPC; affected individuals",
         clock_starts="Assessment that the breach is notifiable",
         stages=[{"name": "Notification", "amount": 3, "unit": "days", "after": "start", "cap_hours": None, "recipient": ""}],
         jurisdictions=["SG"], notes="Notifiable if significant harm is likely or 500 or more people are affected."),
    dict(key="au-ndb", regime="Australia Notifiable Data Breaches", recipient="OAIC; individuals",
         clock_starts="Awareness of grounds to suspect an eligible breach",
         stages=[{"name": "Assessment", "amount": 30, "unit": "days", "after": "start", "cap_hours": None, "recipient": "Internal"},
                 {"name": "Notification", "amount": None, "unit": None, "after": "Assessment", "cap_hours": None, "recipient": ""}],
         jurisdictions=["AU"], notes="Assess a suspected breach within 30 days; then notify as soon as practicable."),
    dict(key="ca-pipeda", regime="Canada PIPEDA s10.1", recipient="Privacy Commissioner; individuals",
         clock_starts="Determination of a real risk of significant harm", stages=[undue("Notification")],
         jurisdictions=["CA"], notes="As soon as feasible (no hour figure). Every breach must be recorded."),
    dict(key="in-certin", regime="India CERT-In Directions 2022", recipient="CERT-In", clock_starts="Noticing the incident",
         stages=[h("Report", 6)], jurisdictions=["IN"], personal_data=False, notes="Logs must be kept for 180 days."),
]  # fmt: skip


def seed(apps, schema_editor):
    Obligation = apps.get_model("incidents", "Obligation")
    for row in CATALOG:
        row = dict(row)
        row.setdefault("data_categories", PERSONAL if row.get("personal_data", True) else [])
        Obligation.objects.get_or_create(key=row.pop("key"), defaults=row)


class Migration(migrations.Migration):
    dependencies = [("incidents", "0005_security_records")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
