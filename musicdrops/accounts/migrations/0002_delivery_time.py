import musicdrops.accounts.models
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="time_zone",
            field=models.CharField(
                default="UTC", max_length=64, validators=[musicdrops.accounts.models.validate_time_zone]
            ),
        ),
        migrations.AddField(
            model_name="user",
            name="delivery_hour",
            field=models.PositiveSmallIntegerField(
                choices=[(h, f"{h:02d}:00") for h in range(24)], default=8
            ),
        ),
        migrations.AddField(
            model_name="user",
            name="digest",
            field=models.CharField(
                choices=[("daily", "every day"), ("weekly", "once a week")], default="daily", max_length=8
            ),
        ),
        migrations.AddField(
            model_name="user",
            name="digest_weekday",
            field=models.PositiveSmallIntegerField(
                choices=musicdrops.accounts.models.WEEKDAYS, default=0
            ),
        ),
        migrations.AddIndex(
            model_name="user",
            index=models.Index(fields=["time_zone", "delivery_hour"], name="accounts_user_delivery"),
        ),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.CheckConstraint(
                condition=models.Q(delivery_hour__lte=23), name="accounts_delivery_hour_0_23"
            ),
        ),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.CheckConstraint(
                condition=models.Q(digest_weekday__lte=6), name="accounts_digest_weekday_0_6"
            ),
        ),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.CheckConstraint(
                condition=models.Q(digest__in=["daily", "weekly"]), name="accounts_digest_known"
            ),
        ),
    ]
