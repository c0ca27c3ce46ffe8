"""Incidents get an opaque key for URLs and the API; existing incidents get one each."""

from django.db import migrations, models

import incidents.models


def give_keys(apps, schema_editor):
    Incident = apps.get_model("incidents", "Incident")
    for incident in Incident.objects.filter(key__isnull=True).only("pk").iterator():
        Incident.objects.filter(pk=incident.pk).update(key=incidents.models.incident_key())


class Migration(migrations.Migration):
    dependencies = [("incidents", "0015_timeline_time_index")]

    operations = [
        migrations.AddField(
            model_name="incident",
            name="key",
            field=models.CharField(editable=False, max_length=12, null=True),
        ),
        migrations.RunPython(give_keys, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="incident",
            name="key",
            field=models.CharField(
                default=incidents.models.incident_key,
                editable=False,
                help_text="Opaque identifier in URLs and the API (INC-n is the human reference)",
                max_length=12,
                unique=True,
            ),
        ),
    ]
