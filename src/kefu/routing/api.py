"""REST: queues, agents' status and load, and the routing rules admins write."""

from __future__ import annotations

from typing import Any

from ninja import Router, Status
from pydantic import Field

from kefu.accounts.access import AuthedRequest, access_team, check_admin
from kefu.channels.models import Channel
from kefu.core.apiutil import StrictIn
from kefu.core.errors import NotFound
from kefu.routing.presenters import rule_dict

from . import services
from .models import RoutingRule

router = Router(tags=["routing"])


class RuleIn(StrictIn):
    name: str
    team_id: int
    channel_id: int | None = None
    keywords: list[str] = []
    priority: str = ""
    order: int = Field(100, ge=0, le=1_000_000)
    is_active: bool = True


@router.get("/queues")
def queues(request: AuthedRequest) -> dict[str, Any]:
    rows = services.access_queue_overview(request.auth)
    return {"count": len(rows), "items": rows}


@router.get("/agents")
def agents(request: AuthedRequest) -> dict[str, Any]:
    rows = services.access_agent_overview(request.auth)
    return {"count": len(rows), "items": rows}


@router.get("/routing-rules")
def list_rules(request: AuthedRequest) -> dict[str, Any]:
    check_admin(request.auth)
    rules = [rule_dict(r) for r in RoutingRule.objects.select_related("team")]
    return {"count": len(rules), "items": rules}


@router.post("/routing-rules", response={201: dict[str, Any]})
def create_rule(request: AuthedRequest, payload: RuleIn) -> Status[dict[str, Any]]:
    check_admin(request.auth)
    if payload.channel_id is not None:
        if not Channel.objects.filter(pk=payload.channel_id).exists():
            raise NotFound(f"渠道 {payload.channel_id} 不存在", fields={"channel_id": "不存在"})
    rule = services.do_create_routing_rule(
        actor=request.auth,
        name=payload.name,
        team=access_team(payload.team_id),
        channel_id=payload.channel_id,
        keywords=payload.keywords,
        priority=payload.priority,
        order=payload.order,
        is_active=payload.is_active,
        request=request,
    )
    return Status(201, rule_dict(rule))


@router.delete("/routing-rules/{rule_id}", response={204: None})
def delete_rule(request: AuthedRequest, rule_id: int) -> Status[None]:
    services.do_delete_routing_rule(actor=request.auth, rule_id=rule_id, request=request)
    return Status(204, None)
