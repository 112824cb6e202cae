"""NotificationThrottle, moved from the Telegram app: added to this app's state only, over the table
telegram_bot 0001 created (telegram_bot_alertthrottle), so its rows are kept and no table is made."""

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("telegram_bot", "0002_webhook_update"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="NotificationThrottle",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("name", models.CharField(max_length=200, unique=True)),
                        ("count", models.PositiveIntegerField(default=0)),
                        ("expires_at", models.DateTimeField(db_index=True)),
                    ],
                    options={"db_table": "telegram_bot_alertthrottle"},
                ),
            ],
            database_operations=[],
        ),
    ]
