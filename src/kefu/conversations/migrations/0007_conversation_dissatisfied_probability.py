from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0006_attachment"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="dissatisfied_probability",
            field=models.FloatField(blank=True, null=True),
        ),
    ]
