"""Seed the communication template library with sensible starting points, so a fresh install
can publish its first status-page update in a minute. Idempotent: a template that exists by
name (perhaps edited by the operator) is left alone. Placeholders are those of
incidents.comms.services.placeholders."""

from django.db import migrations

TEMPLATES = [
    {
        "name": "Status page: investigating",
        "audience": "status_page",
        "public_status": "investigating",
        "body": (
            "We are investigating reports of problems with {services}. Some users may see errors or slow "
            "responses.\n\n"
            "We will post an update by {next_update}."
        ),
    },
    {
        "name": "Status page: identified",
        "audience": "status_page",
        "public_status": "identified",
        "body": (
            "We have identified the cause of the problems with {services} and are working on a fix.\n\n"
            "Measures in place meanwhile:\n\n{mitigations}\n\n"
            "We will post an update by {next_update}."
        ),
    },
    {
        "name": "Status page: monitoring",
        "audience": "status_page",
        "public_status": "monitoring",
        "body": (
            "A fix has been applied and {services} are recovering. We are monitoring the results.\n\n"
            "We will post an update by {next_update}."
        ),
    },
    {
        "name": "Status page: resolved",
        "audience": "status_page",
        "public_status": "resolved",
        "body": (
            "This incident has been resolved: all affected services are working normally again. "
            "Problems began at {started_at}.\n\n"
            "We are sorry for the disruption. We will publish what happened and what we are changing so it "
            "does not happen again."
        ),
    },
    {
        "name": "Customers: incident notice (e-mail)",
        "audience": "customers",
        "public_status": "",
        "body": (
            "Hello,\n\n"
            "Since {started_at} some of our services have not been working as they should. "
            "Currently affected: {services}.\n\n"
            "**What we are doing:** our team is working on it now (reference {reference}). "
            "Measures that may affect you:\n\n{mitigations}\n\n"
            "**What you need to do:** nothing at the moment. If that changes we will tell you.\n\n"
            "We will write again by {next_update}, and the status page always has the latest.\n\n"
            "We are sorry for the trouble."
        ),
    },
    {
        "name": "Regulator: initial breach notification",
        "audience": "regulators",
        "public_status": "",
        "body": (
            "**Initial notification of a personal data breach** (our reference {reference})\n\n"
            "This is an initial notification; we will supplement it as our investigation proceeds.\n\n"
            "1. **Nature of the breach:** {title}. Detected incident start: {started_at}. Current status: "
            "{status}.\n"
            "2. **Categories and approximate number of data subjects and records concerned:** [to be "
            "completed]\n"
            "3. **Contact point (data protection officer):** [name, e-mail, phone]\n"
            "4. **Likely consequences of the breach:** [to be completed]\n"
            "5. **Measures taken or proposed to address the breach and mitigate its effects:**\n\n"
            "{mitigations}\n\n"
            "Systems affected: {services}.\n\n"
            "Our next update to you will follow by {next_update}."
        ),
    },
    {
        "name": "Partners and press: holding statement",
        "audience": "partners",
        "public_status": "",
        "body": (
            "We are aware of an issue affecting {services} and are working to resolve it as quickly as "
            "possible. We will share more information as soon as we can confirm it.\n\n"
            "Current information is published on our status page. We will give a further update by "
            "{next_update}."
        ),
    },
    {
        "name": "Internal: situation report",
        "audience": "internal",
        "public_status": "",
        "body": (
            "**{reference} ({severity}): {title}**\n\n"
            "- Status: {status}, since {started_at}\n"
            "- Affected: {services}\n"
            "- Measures in force:\n\n{mitigations}\n\n"
            "Next update by {next_update}. Do not share outside the company; the status page carries the "
            "public version."
        ),
    },
]


def seed(apps, schema_editor):
    CommunicationTemplate = apps.get_model("incidents", "CommunicationTemplate")
    for template in TEMPLATES:
        CommunicationTemplate.objects.get_or_create(
            name=template["name"],
            defaults={
                "audience": template["audience"],
                "public_status": template["public_status"],
                "body": template["body"],
                "language": "en",
            },
        )


class Migration(migrations.Migration):
    dependencies = [("incidents", "0006_obligation_catalog")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
