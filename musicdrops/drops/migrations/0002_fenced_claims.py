import django.utils.timezone
from django.db import migrations, models


def open_claims_become_due(apps, schema_editor):
    """Claims held by task id become free due rows: the sweep queues them again."""
    Delivery = apps.get_model("drops", "Delivery")
    Delivery.objects.filter(status="claimed").update(status="due")
    Delivery.objects.update(task_id="")


class Migration(migrations.Migration):

    dependencies = [
        ('drops', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='DropSend',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField(unique=True)),
                ('started_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('fanned_out_at', models.DateTimeField(blank=True, null=True)),
            ],
        ),
        migrations.RunPython(open_claims_become_due, migrations.RunPython.noop),
        migrations.RenameField(model_name='delivery', old_name='task_id', new_name='token'),
        migrations.AlterField(
            model_name='delivery', name='token', field=models.CharField(blank=True, max_length=32),
        ),
        migrations.RenameField(model_name='delivery', old_name='claimed_at', new_name='queued_at'),
        migrations.AlterField(
            model_name='delivery',
            name='status',
            field=models.CharField(choices=[('due', 'due'), ('sent', 'sent'), ('failed', 'failed')], default='due', max_length=8),
        ),
        migrations.AddIndex(
            model_name='delivery',
            index=models.Index(condition=models.Q(('status', 'due')), fields=['queued_at'], name='drops_delivery_due'),
        ),
    ]
