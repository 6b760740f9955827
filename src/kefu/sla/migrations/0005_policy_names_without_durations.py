"""The seeded policies lose the durations in their names.

「在线聊天首次响应 60 秒」 kept saying 60 秒 after an admin changed the time; pages and
the API now show the durations computed from the fields. Only names still exactly as
seeded are renamed: a name an admin chose stays.
"""

from django.db import migrations

RENAMES = {
    "在线聊天首次响应 60 秒": "在线聊天首次响应",
    "App 首次响应 60 秒": "App 首次响应",
    "即时通讯首次响应 60 秒": "即时通讯首次响应",
    "直播评论 30 秒内响应": "直播评论响应",
    "社交媒体首次响应 10 分钟": "社交媒体首次响应",
    "邮件 4 个工作小时内回复": "邮件回复",
    "投诉 24 小时内受理": "投诉受理与解决",
    "P1 4 小时解决": "P1 工单解决",
    "P2 24 小时解决": "P2 工单解决",
    "P3 48 小时解决": "P3 工单解决",
    "P4 72 小时解决": "P4 工单解决",
}


def rename(apps, schema_editor):
    SLAPolicy = apps.get_model("sla", "SLAPolicy")
    for old, new in RENAMES.items():
        SLAPolicy.objects.filter(name=old).update(name=new)


def restore(apps, schema_editor):
    SLAPolicy = apps.get_model("sla", "SLAPolicy")
    for old, new in RENAMES.items():
        SLAPolicy.objects.filter(name=new).update(name=old)


class Migration(migrations.Migration):
    dependencies = [("sla", "0004_escalation")]

    operations = [migrations.RunPython(rename, restore)]
