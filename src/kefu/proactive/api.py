"""REST: proactive-service rules (supervisors and above), their log, and delay statements (leads propose, supervisors approve)."""

from __future__ import annotations

from typing import Any

from ninja import Query, Router, Status
from pydantic import StrictBool, StrictInt, StrictStr

from kefu.accounts.access import AuthedRequest
from kefu.core.apiutil import DEFAULT_LIMIT, MAX_LIMIT, StrictIn, page

from . import services
from .presenters import notice_dict, rule_dict, statement_dict

router = Router(tags=["proactive"])


class ProactiveRuleIn(StrictIn):
    name: StrictStr
    kind: StrictStr
    reply_id: StrictInt
    team_id: StrictInt | None = None
    is_enabled: StrictBool = True
    daily_limit: StrictInt = 3
    stall_hours: StrictInt = 48
    estimate_days: StrictInt = 2
    linger_seconds: StrictInt = 30
    page_kinds: list[StrictStr] = []


class ProactiveRulePatch(StrictIn):
    name: StrictStr | None = None
    kind: StrictStr | None = None
    reply_id: StrictInt | None = None
    team_id: StrictInt | None = None
    is_enabled: StrictBool | None = None
    daily_limit: StrictInt | None = None
    stall_hours: StrictInt | None = None
    estimate_days: StrictInt | None = None
    linger_seconds: StrictInt | None = None
    page_kinds: list[StrictStr] | None = None


class DelayStatementIn(StrictIn):
    title: StrictStr
    reason: StrictStr
    text: StrictStr
    team_id: StrictInt | None = None
    order_nos: list[StrictStr] = []
    carrier: StrictStr = ""
    new_estimate: StrictStr | None = None


def _rule_data(payload: ProactiveRuleIn) -> dict[str, Any]:
    data = payload.model_dump()
    if data["kind"] != "page_linger" and not data["page_kinds"]:
        data.pop("page_kinds")
    return data


@router.get("/proactive/rules")
def list_rules(request: AuthedRequest) -> list[dict[str, Any]]:
    return [rule_dict(r) for r in services.access_rules(request.auth)]


@router.post("/proactive/rules", response={201: dict[str, Any]})
def create_rule(request: AuthedRequest, payload: ProactiveRuleIn) -> Status[dict[str, Any]]:
    rule = services.do_create_rule(actor=request.auth, data=_rule_data(payload))
    return Status(201, rule_dict(rule))


@router.get("/proactive/rules/{proactive_rule_id}")
def get_rule(request: AuthedRequest, proactive_rule_id: int) -> dict[str, Any]:
    return rule_dict(services.access_rule(request.auth, proactive_rule_id))


@router.patch("/proactive/rules/{proactive_rule_id}")
def update_rule(
    request: AuthedRequest, proactive_rule_id: int, payload: ProactiveRulePatch
) -> dict[str, Any]:
    # null clears the team (a desk-wide rule); elsewhere it means "unchanged".
    data = {
        k: v for k, v in payload.model_dump(exclude_unset=True).items() if v is not None or k == "team_id"
    }
    return rule_dict(services.do_update_rule(actor=request.auth, rule_id=proactive_rule_id, data=data))


@router.delete("/proactive/rules/{proactive_rule_id}", response={204: None})
def delete_rule(request: AuthedRequest, proactive_rule_id: int) -> Status[None]:
    services.do_delete_rule(actor=request.auth, rule_id=proactive_rule_id)
    return Status(204, None)


@router.get("/proactive/notices")
def list_notices(
    request: AuthedRequest,
    customer_id: int | None = None,
    rule_id: int | None = None,
    statement_id: int | None = None,
    status: str = "",
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    qs = services.access_notices(
        request.auth, customer_id=customer_id, rule_id=rule_id, statement_id=statement_id, status=status
    )
    return page(qs, limit=limit, offset=offset, present=notice_dict)


@router.get("/proactive/statements")
def list_statements(
    request: AuthedRequest,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    return page(services.visible_statements(request.auth), limit=limit, offset=offset, present=statement_dict)


@router.post("/proactive/statements", response={201: dict[str, Any]})
def create_statement(request: AuthedRequest, payload: DelayStatementIn) -> Status[dict[str, Any]]:
    statement = services.do_create_statement(actor=request.auth, data=payload.model_dump())
    return Status(201, statement_dict(statement))


@router.get("/proactive/statements/{statement_id}")
def get_statement(request: AuthedRequest, statement_id: int) -> dict[str, Any]:
    return statement_dict(services.access_statement(request.auth, statement_id))


@router.post("/proactive/statements/{statement_id}/approve")
def approve_statement(request: AuthedRequest, statement_id: int) -> dict[str, Any]:
    return statement_dict(services.do_approve_statement(actor=request.auth, statement_id=statement_id))


@router.post("/proactive/statements/{statement_id}/cancel")
def cancel_statement(request: AuthedRequest, statement_id: int) -> dict[str, Any]:
    return statement_dict(services.do_cancel_statement(actor=request.auth, statement_id=statement_id))
