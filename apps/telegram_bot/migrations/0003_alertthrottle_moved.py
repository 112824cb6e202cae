"""AlertThrottle moved to apps.notifications (NotificationThrottle): removed from this app's state only; the
table telegram_bot_alertthrottle and its rows stay, now owned by notifications 0001."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("telegram_bot", "0002_webhook_update"),
        ("notifications", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="AlertThrottle")],
            database_operations=[],
        ),
    ]
