from django.db import migrations, models

# MusicBrainz issues random (version 4) MBIDs; the demo's are uuid5. PostgreSQL's text form has hyphens, SQLite's none.
ISSUED_BY_MUSICBRAINZ = r"^[0-9a-f]{8}-?[0-9a-f]{4}-?4"


def mark_made_up(apps, schema_editor):
    Artist = apps.get_model("catalog", "Artist")
    Artist.objects.exclude(mbid__regex=ISSUED_BY_MUSICBRAINZ).update(made_up=True)


class Migration(migrations.Migration):
    """Made-up artists as a column the planner can count; the demo's existing artists marked by their MBIDs."""

    dependencies = [
        ("catalog", "0012_stale_browses_read_a_range"),
    ]

    operations = [
        migrations.AddField(
            model_name="artist",
            name="made_up",
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.RunPython(mark_made_up, migrations.RunPython.noop),
    ]
