from django.contrib.postgres.operations import CreateCollation
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_discovery")]

    operations = [
        # ICU's root locale with numeric ordering: "Artist 2" before "Artist 10", "björk" beside "Björk",
        # whatever the database's own collation is (often "C", which puts every capital before "a").
        CreateCollation("natural", provider="icu", locale="und-u-kn-true"),
    ]
