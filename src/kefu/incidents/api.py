"""REST: incidents under /api/v1/incidents — proposals, decisions, the approved wording, the review."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header
from ninja import Router, Status
from pydantic import StrictBool, StrictFloat, StrictInt, StrictStr

from kefu.accounts.access import AuthedRequest
from kefu.conversations.timeline import access_conversation
from kefu.core.apiutil import StrictIn

from . import services
from .facts import pinned_statements
from .presenters import event_out, incident_out, public_post_out
from .public_posts import open_post_for

router = Router(tags=["incidents"])


class IncidentOpenIn(StrictIn):
    title: StrictStr
    team_id: StrictInt | None = None
    statement: StrictStr = ""
    internal_note: StrictStr = ""
    intent: StrictStr = ""
    skus: list[StrictStr] = []
    routes: list[StrictStr] = []
    keywords: list[StrictStr] = []
    conversation_ids: list[StrictInt] = []
    notify_customers: StrictBool = True


class IncidentConfirmIn(StrictIn):
    owner_id: StrictInt | None = None
    statement: StrictStr | None = None
    title: StrictStr | None = None


class IncidentPatchIn(StrictIn):
    title: StrictStr | None = None
    statement: StrictStr | None = None
    internal_note: StrictStr | None = None
    owner_id: StrictInt | None = None
    notice: StrictBool | None = None
    lessons: StrictStr | None = None
    notify_customers: StrictBool | None = None


class IncidentDismissIn(StrictIn):
    reason: StrictStr = ""


class IncidentMergeIn(StrictIn):
    into_id: StrictInt


class IncidentTagIn(StrictIn):
    conversation_ids: list[StrictInt]


class IncidentResolveIn(StrictIn):
    follow_up_text: StrictStr = ""


class IncidentCompensateIn(StrictIn):
    kind: StrictStr
    amount: StrictFloat | StrictInt | StrictStr
    reason: StrictStr


def _detail(incident: Any) -> dict[str, Any]:
    out = incident_out(incident, conversations=incident.links.count(), full=True)
    out["events"] = [event_out(e) for e in incident.events.select_related("actor")]
    return out


@router.get("/incidents")
def list_incidents(request: AuthedRequest, status: str | None = None) -> list[dict[str, Any]]:
    """Incidents the caller may see, newest first; ``status=active`` for proposed and open ones."""
    items = services.list_incidents(request.auth, status=status)
    counts = services.link_counts([i.pk for i in items])
    return [incident_out(i, conversations=counts.get(i.pk, 0)) for i in items]


@router.post("/incidents", response={201: dict[str, Any]})
def open_incident(request: AuthedRequest, payload: IncidentOpenIn) -> Status[dict[str, Any]]:
    """Open an incident by hand (team leads for their team, supervisors for any)."""
    incident = services.do_open_incident(actor=request.auth, **payload.model_dump())
    return Status(201, _detail(incident))


@router.get("/incidents/{incident_id}")
def get_incident(request: AuthedRequest, incident_id: int) -> dict[str, Any]:
    return _detail(services.access_incident(request.auth, incident_id))


@router.patch("/incidents/{incident_id}")
def update_incident(request: AuthedRequest, incident_id: int, payload: IncidentPatchIn) -> dict[str, Any]:
    """Owner, statement (统一口径), internal note, notice on/off, lessons for the review."""
    incident = services.do_update_incident(
        actor=request.auth, incident_id=incident_id, **payload.model_dump(exclude_unset=True)
    )
    return _detail(incident)


@router.post("/incidents/{incident_id}/confirm")
def confirm_incident(request: AuthedRequest, incident_id: int, payload: IncidentConfirmIn) -> dict[str, Any]:
    incident = services.do_confirm_incident(
        actor=request.auth, incident_id=incident_id, **payload.model_dump(exclude_unset=True)
    )
    return _detail(incident)


@router.post("/incidents/{incident_id}/dismiss")
def dismiss_incident(request: AuthedRequest, incident_id: int, payload: IncidentDismissIn) -> dict[str, Any]:
    return _detail(
        services.do_dismiss_incident(actor=request.auth, incident_id=incident_id, reason=payload.reason)
    )


@router.post("/incidents/{incident_id}/merge")
def merge_incident(request: AuthedRequest, incident_id: int, payload: IncidentMergeIn) -> dict[str, Any]:
    """Merge this incident into ``into_id``; returns the incident merged into."""
    return _detail(
        services.do_merge_incident(actor=request.auth, incident_id=incident_id, into_id=payload.into_id)
    )


@router.post("/incidents/{incident_id}/conversations")
def tag_conversations(request: AuthedRequest, incident_id: int, payload: IncidentTagIn) -> dict[str, Any]:
    incident = services.do_tag_conversation(
        actor=request.auth, incident_id=incident_id, conversation_id=payload.conversation_ids
    )
    return _detail(incident)


@router.post("/incidents/{incident_id}/resolve")
def resolve_incident(request: AuthedRequest, incident_id: int, payload: IncidentResolveIn) -> dict[str, Any]:
    """Resolved: the notice comes down; ``follow_up_text`` goes to every tagged customer once."""
    incident = services.do_resolve_incident(
        actor=request.auth, incident_id=incident_id, follow_up_text=payload.follow_up_text
    )
    return _detail(incident)


@router.post("/incidents/{incident_id}/compensation", response={201: dict[str, Any]})
def compensate(
    request: AuthedRequest, incident_id: int, payload: IncidentCompensateIn
) -> Status[dict[str, Any]]:
    """The same compensation for every tagged customer, within the caller's authority; recipients recorded."""
    result = services.do_compensate_incident(
        actor=request.auth, incident_id=incident_id, **payload.model_dump()
    )
    return Status(
        201, {"granted": result.granted, "total": str(result.amount), "recipients": result.recipients}
    )


@router.get("/incidents/{incident_id}/review")
def review(request: AuthedRequest, incident_id: int) -> dict[str, Any]:
    """Timeline, volume per hour, response times, emotion before/after the statement, compensation."""
    r = services.incident_review(request.auth, incident_id)
    return {
        "incident": incident_out(r.incident, conversations=r.conversations, full=True),
        "customers": r.customers,
        "per_hour": [{"hour": h, "conversations": n} for h, n in r.per_hour],
        "median_first_response_seconds": r.median_first_response_seconds,
        "mean_first_response_seconds": r.mean_first_response_seconds,
        "emotion_before_statement": r.emotion_before,
        "emotion_after_statement": r.emotion_after,
        "compensation_total": str(r.compensation_total),
        "compensations": len(r.compensations),
        "events": [event_out(e) for e in r.events],
    }


@router.get(
    "/incidents/{incident_id}/review.csv",
    openapi_extra={
        "responses": {
            200: {
                "description": "复盘 CSV（UTF-8 带 BOM）",
                "content": {"text/csv": {"schema": {"type": "string"}}},
            }
        }
    },
)
def review_csv(request: AuthedRequest, incident_id: int) -> HttpResponse:
    r = services.incident_review(request.auth, incident_id)
    response = HttpResponse("\ufeff" + services.review_csv(r), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, f"事件复盘-{incident_id}.csv")
    return response


@router.get("/conversations/{conversation_id}/incidents")
def conversation_incidents(request: AuthedRequest, conversation_id: int) -> list[dict[str, Any]]:
    """The approved statements pinned in this conversation's composer."""
    access_conversation(request.auth, conversation_id)
    return [
        {"incident_id": p.incident_id, "title": p.title, "statement": p.statement, "owner": p.owner}
        for p in pinned_statements(conversation_id)
    ]


@router.get("/public-posts")
def public_posts(request: AuthedRequest, status: str = "open") -> dict[str, Any]:
    """Negative, visible social and live-stream posts flagged for a public reply (team leads and up).

    ``status``: open (most urgent first), answered, late (escalated), all.
    """
    items = services.list_public_posts(request.auth, status=status)
    now = timezone.now()
    return {"count": len(items), "items": [public_post_out(p, now=now) for p in items]}


@router.get("/conversations/{conversation_id}/public-post")
def conversation_public_post(request: AuthedRequest, conversation_id: int) -> dict[str, Any]:
    """The conversation's post still waiting for a public reply (the badge), or null."""
    access_conversation(request.auth, conversation_id)
    post = open_post_for(conversation_id)
    if post is None:
        return {"public_post": None}
    return {
        "public_post": {
            "id": post.pk,
            "due_at": post.due_at.isoformat(),
            "reach": post.reach,
            "breached": post.breached_at is not None,
        }
    }
