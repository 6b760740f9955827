"""The bot's rows as the API and the pages show them."""

from __future__ import annotations

from typing import Any

from .models import BotSetting


def setting_dict(s: BotSetting) -> dict[str, Any]:
    return {
        "id": s.pk,
        "channel_id": s.channel_id,
        "channel_name": s.channel.name,
        "channel_kind": s.channel.kind,
        "team_id": s.team_id,
        "team_name": s.team.name if s.team_id and s.team else "",
        "enabled": s.enabled,
        "days": s.days,
        "start_time": s.start_time.strftime("%H:%M") if s.start_time else None,
        "end_time": s.end_time.strftime("%H:%M") if s.end_time else None,
        "greeting": s.greeting,
        "intents": list(s.intents),
        "vip_skip": s.vip_skip,
        "vip_level": s.vip_level,
        "threshold": s.threshold,
        "updated_at": s.updated_at.isoformat() if s.updated_at else None,
    }
