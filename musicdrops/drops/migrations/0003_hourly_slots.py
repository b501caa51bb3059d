import datetime as dt

from django.db import migrations, models


def rows_get_their_slot(apps, schema_editor):
    """A day's send becomes the slot at 00:00 UTC of that day; a row's period is its day."""
    DropSend = apps.get_model("drops", "DropSend")
    Delivery = apps.get_model("drops", "Delivery")
    for send in DropSend.objects.all():
        send.slot = dt.datetime.combine(send.day, dt.time(), tzinfo=dt.UTC)
        send.save(update_fields=["slot"])
    for day in Delivery.objects.values_list("day", flat=True).distinct():
        Delivery.objects.filter(day=day).update(
            slot=dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC), period=day.isoformat()
        )


class Migration(migrations.Migration):
    dependencies = [
        ("drops", "0002_fenced_claims"),
        ("accounts", "0002_delivery_time"),
    ]

    operations = [
        migrations.AddField(model_name="dropsend", name="slot", field=models.DateTimeField(null=True)),
        migrations.AddField(model_name="delivery", name="slot", field=models.DateTimeField(null=True)),
        migrations.AddField(model_name="delivery", name="period", field=models.CharField(max_length=10, default="")),
        migrations.RunPython(rows_get_their_slot, migrations.RunPython.noop),
        migrations.RemoveField(model_name="dropsend", name="day"),
        migrations.AlterField(model_name="dropsend", name="slot", field=models.DateTimeField(unique=True)),
        migrations.AlterField(model_name="delivery", name="slot", field=models.DateTimeField()),
        migrations.AlterField(model_name="delivery", name="period", field=models.CharField(max_length=10)),
        migrations.RemoveConstraint(model_name="delivery", name="drops_one_email_per_user_day"),
        migrations.RemoveIndex(model_name="delivery", name="drops_delivery_day_status"),
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(fields=["slot", "status"], name="drops_delivery_slot_status"),
        ),
        migrations.AddConstraint(
            model_name="delivery",
            constraint=models.UniqueConstraint(fields=("user", "period"), name="drops_one_email_per_user_period"),
        ),
    ]
