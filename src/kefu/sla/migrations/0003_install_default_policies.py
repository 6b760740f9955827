"""Seed the default SLA policies once; admins may change or delete them afterwards.

A data migration rather than a post_migrate handler, so a policy an admin deleted
does not come back on the next upgrade. The list is frozen here on purpose.
"""

from django.db import migrations

POLICIES = [
    {
        "name": "在线聊天首次响应 60 秒",
        "applies_to": "conversation",
        "channel_kind": "web",
        "first_response_seconds": 60,
    },
    {
        "name": "App 首次响应 60 秒",
        "applies_to": "conversation",
        "channel_kind": "app",
        "first_response_seconds": 60,
    },
    {
        "name": "即时通讯首次响应 60 秒",
        "applies_to": "conversation",
        "channel_kind": "im",
        "first_response_seconds": 60,
    },
    {
        "name": "直播评论 30 秒内响应",
        "applies_to": "conversation",
        "channel_kind": "live",
        "first_response_seconds": 30,
    },
    {
        "name": "社交媒体首次响应 10 分钟",
        "applies_to": "conversation",
        "channel_kind": "social",
        "first_response_seconds": 600,
    },
    {
        "name": "邮件 4 个工作小时内回复",
        "applies_to": "conversation",
        "channel_kind": "email",
        "first_response_seconds": 4 * 3600,
        "business_hours": True,
    },
    {
        "name": "投诉 24 小时内受理",
        "applies_to": "ticket",
        "ticket_category": "complaint",
        "first_response_seconds": 24 * 3600,
        "resolution_seconds": 72 * 3600,
    },
    {"name": "P1 4 小时解决", "applies_to": "ticket", "priority": "P1", "resolution_seconds": 4 * 3600},
    {"name": "P2 24 小时解决", "applies_to": "ticket", "priority": "P2", "resolution_seconds": 24 * 3600},
    {"name": "P3 48 小时解决", "applies_to": "ticket", "priority": "P3", "resolution_seconds": 48 * 3600},
    {"name": "P4 72 小时解决", "applies_to": "ticket", "priority": "P4", "resolution_seconds": 72 * 3600},
]


def install(apps, schema_editor):
    SLAPolicy = apps.get_model("sla", "SLAPolicy")
    for spec in POLICIES:
        SLAPolicy.objects.get_or_create(name=spec["name"], defaults=spec)


class Migration(migrations.Migration):
    dependencies = [("sla", "0002_slapolicy_applies_to")]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
