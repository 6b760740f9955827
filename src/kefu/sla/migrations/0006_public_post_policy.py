"""The public-post timer (docs/incidents.md, "Public posts"): a new kind of policy and its default."""

from django.db import migrations, models


def install(apps, schema_editor):
    SLAPolicy = apps.get_model("sla", "SLAPolicy")
    SLAPolicy.objects.get_or_create(
        name="公开负面帖子公开回复",
        defaults={"applies_to": "public_post", "first_response_seconds": 30 * 60},
    )


class Migration(migrations.Migration):
    dependencies = [("sla", "0005_policy_names_without_durations")]

    operations = [
        migrations.AlterField(
            model_name="slapolicy",
            name="applies_to",
            field=models.CharField(
                blank=True,
                choices=[
                    ("", "全部"),
                    ("conversation", "会话"),
                    ("ticket", "工单"),
                    ("public_post", "公开负面帖子"),
                ],
                default="",
                max_length=12,
            ),
        ),
        migrations.RunPython(install, migrations.RunPython.noop),
    ]
