"""The inbox's order (last message, or creation) as an index: a keyset page of 25 reads down it."""

import django.db.models.functions.comparison
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0010_agent_reply_index"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(
                django.db.models.functions.comparison.Coalesce("last_message_at", "created_at"),
                models.F("id"),
                name="conversation_activity",
            ),
        ),
    ]
