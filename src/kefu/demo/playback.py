"""Playing the demo's conversations message by message through the real services.

Each scenario is played as the channels would play it, so routing, SLA, text
understanding, tickets and complaints behave as in production; then its timestamps
are moved into the past (only the clock is faked), and what happened since is done now.
"""

from __future__ import annotations

import io
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from kefu.accounts.models import Team, User
from kefu.channels.models import Channel, OutboundDelivery
from kefu.complaints import compensation, promises
from kefu.complaints import services as complaints
from kefu.complaints.models import Complaint, Promise
from kefu.conversations import services as conversations
from kefu.conversations import timeline
from kefu.conversations.models import CallLog, Conversation, Message
from kefu.core.errors import PermissionDenied
from kefu.tickets.models import Department, FollowUp, Ticket, TicketEvent
from kefu.tickets.services import do_create_ticket, do_transfer_ticket
from kefu.understanding.models import EmotionAlert

from . import shop
from .people import _Seed
from .scenarios import Scenario


def _photo() -> SimpleUploadedFile:
    """A small picture for the 'customer sends a photo' steps."""
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (160, 160), (245, 246, 248))
    draw = ImageDraw.Draw(im)
    draw.rounded_rectangle((52, 30, 108, 140), radius=10, fill=(150, 156, 166))
    draw.rectangle((48, 22, 112, 38), fill=(90, 96, 106))
    for x, y in ((60, 44), (70, 52), (96, 46), (84, 60), (64, 70)):
        draw.ellipse((x, y, x + 7, y + 10), fill=(60, 140, 230))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return SimpleUploadedFile("photo.png", buf.getvalue(), content_type="image/png")


@dataclass
class _Play:
    rng: random.Random
    now: datetime
    users: dict[str, User]
    teams: dict[str, Team]
    channels: dict[str, Channel]
    departments: dict[str, Department]

    def agent_for(self, conversation_id: int, username: str) -> User:
        """The scenario's agent, or someone of the team the conversation was routed to."""
        preferred = self.users[username]
        try:
            timeline.access_conversation(preferred, conversation_id)
            return preferred
        except PermissionDenied:
            pass
        team_id = Conversation.objects.filter(pk=conversation_id).values_list("team_id", flat=True).first()
        member = (
            User.objects.filter(pk__in=[u.pk for u in self.users.values()], teams__id=team_id or 0)
            .order_by("role", "id")
            .first()
        )
        return member or self.users["wanghaitao"]


def _fill(text: str, seed: _Seed, agent_name: str) -> str:
    order = seed.story_order
    first_item = order.items.first() if order else None
    return text.format(
        order_no=order.order_no if order else "",
        tracking_no=order.tracking_no if order else "",
        carrier=order.carrier if order else "",
        item=first_item.name if first_item else "",
        amount=order.amount if order else "",
        city=seed.city,
        agent=agent_name,
    )


@dataclass
class _Played:
    """What playing a scenario left behind, for backdating and the steps taken since."""

    conversation_id: int | None = None
    agent: User | None = None
    complaint_id: int | None = None
    # Extra seconds of silence after a message id (a "wait" step).
    waits: dict[int, float] = field(default_factory=dict)


def _complaint_step(play: _Play, action: str, arg: Any, *, agent: User, played: _Played, seed: _Seed) -> None:
    """One step of a complaint's workflow, taken by ``agent``."""

    def fill(text: str) -> str:
        return _fill(text, seed, agent.name)

    if action == "complaint":
        complaint = complaints.do_open_complaint(
            actor=agent,
            conversation_id=played.conversation_id,
            title=arg["title"],
            data={
                "what_happened": fill(arg["what_happened"]),
                "customer_request": fill(arg["customer_request"]),
                "evidence": [fill(e) for e in arg["evidence"]],
                "contact_preference": arg["contact_preference"],
            },
        )
        played.complaint_id = complaint.pk
        if arg.get("department"):
            complaints.do_transfer(
                actor=agent,
                complaint_id=complaint.pk,
                department_id=play.departments[arg["department"]].pk,
                fields={k: fill(v) for k, v in arg.get("fields", {}).items()},
                note=fill(arg.get("note", "")),
            )
        return
    if played.complaint_id is None:
        raise ValueError(f"demo: {action} needs a complaint step first")
    complaint_id = played.complaint_id
    if action == "resolve":
        complaints.do_resolve(
            actor=agent, complaint_id=complaint_id, resolution=fill(arg), confirm_findings=True
        )
    elif action == "confirm":
        complaints.do_confirm_resolution(actor=agent, complaint_id=complaint_id, confirmed=True, note=arg)
    elif action == "progress":
        complaints.do_send_progress(
            actor=agent, complaint_id=complaint_id, text=fill(arg), confirm_findings=True
        )
    elif action == "follow_up":
        complaints.do_record_follow_up(actor=agent, complaint_id=complaint_id, note=arg)
    else:
        raise ValueError(f"demo: unknown complaint step {action}")


@dataclass
class _Scene:
    """One scenario being played: its customer, and what the steps left behind so far."""

    play: _Play
    sc: Scenario
    seed: _Seed
    channel: Channel
    identities: list[tuple[str, str]]
    # The scenario's agent, named in the customer's texts before routing settles who answers.
    agent_name: str
    played: _Played = field(default_factory=_Played)

    def fill(self, text: str, agent_name: str) -> str:
        return _fill(text, self.seed, agent_name)


def _play(play: _Play, sc: Scenario, seed: _Seed) -> _Played:
    channel = play.channels[sc["channel"]]
    kind = shop.CHANNEL_IDENTITY[channel.kind]
    # A signed-in member: the channel identity plus the member number finds the profile.
    identities = [(kind, _identity(play, kind, seed)), ("external", seed.member_id)]
    agent_name = play.users[sc["agent"]].name if sc.get("agent") else ""
    scene = _Scene(play, sc, seed, channel, identities, agent_name)
    conversation_id: int | None = None
    agent: User | None = None
    for step in sc["steps"]:
        action = step[0]
        if agent is None and conversation_id and sc.get("agent"):
            # Who answers is settled once routing has picked the team.
            agent = play.agent_for(conversation_id, sc["agent"])
        if action in _CUSTOMER_STEPS:
            conversation_id = _CUSTOMER_STEPS[action](scene, step, agent, conversation_id)
        elif conversation_id is None or agent is None:
            raise ValueError(f"demo scenario {sc['key']}: step {action} needs a conversation and an agent")
        elif action in _AGENT_STEPS:
            _AGENT_STEPS[action](scene, step, agent, conversation_id)
        else:
            raise ValueError(f"demo scenario {sc['key']}: unknown step {action}")
    scene.played.conversation_id, scene.played.agent = conversation_id, agent
    return scene.played


def _identity(play: _Play, kind: str, seed: _Seed) -> str:
    """The customer's identity on the channel: the seeded one, else one made up in its format."""
    value = seed.identity(kind)
    if value is not None:
        return value
    return {
        "web": f"v-{play.rng.getrandbits(48):012x}",
        "app": f"yj_u_{100200 + seed.index}",
        "email": f"member{100000 + seed.index}@example.com",
        "wechat": "o" + secrets.token_urlsafe(20)[:27].replace("-", "x"),
        "social": f"weibo:悦家粉丝{seed.index}",
        "live": f"douyin:{play.rng.randint(10**9, 10**10 - 1)}",
        "phone": seed.phone,
    }[kind]


# --- steps: a customer's step returns the conversation it went to; an agent's needs one -------


def _customer_message(scene: _Scene, step: Any, agent: User | None, conversation_id: int | None) -> int:
    """The customer writes (``c``) or sends a photo (``c_img``) on the scenario's channel."""
    message, _ = conversations.do_receive_customer_message(
        channel=scene.channel,
        identities=scene.identities,
        text=scene.fill(step[1], scene.agent_name),
        customer_name=scene.seed.name,
        subject=scene.sc.get("subject", ""),
        image=_photo() if step[0] == "c_img" else None,
    )
    return message.conversation_id


def _call(scene: _Scene, step: Any, agent: User | None, conversation_id: int | None) -> int | None:
    """A phone call, logged into the conversation (or opening one)."""
    spec = step[1]
    call = conversations.do_log_call(
        agent=agent or scene.play.users[scene.sc["agent"]],
        conversation_id=conversation_id,
        customer_id=scene.seed.customer.pk if scene.seed.customer else None,
        direction=spec["direction"],
        duration_seconds=spec["seconds"],
        summary=scene.fill(spec["summary"], scene.agent_name),
        outcome=spec["outcome"],
    )
    return call.conversation_id


_CUSTOMER_STEPS: dict[str, Callable[[_Scene, Any, User | None, int | None], int | None]] = {
    "c": _customer_message,
    "c_img": _customer_message,
    "call": _call,
}


def _wait(scene: _Scene, step: Any, agent: User, conversation_id: int) -> None:
    """Hours of silence after the last message, made real when the conversation is backdated."""
    last = (
        Message.objects.filter(conversation_id=conversation_id).order_by("-id").values_list("id", flat=True)
    )
    scene.played.waits[last[0]] = step[1] * 3600


def _complaint(scene: _Scene, step: Any, agent: User, conversation_id: int) -> None:
    scene.played.conversation_id = conversation_id
    _complaint_step(scene.play, step[0], step[1], agent=agent, played=scene.played, seed=scene.seed)


def _reply(scene: _Scene, step: Any, agent: User, conversation_id: int) -> None:
    # The scripted agents stand by their replies: one with a high-severity finding is
    # sent as an override, which the quality page then shows.
    conversations.do_send_agent_message(
        agent=agent,
        conversation_id=conversation_id,
        text=scene.fill(step[1], agent.name),
        confirm_findings=True,
    )


def _note(scene: _Scene, step: Any, agent: User, conversation_id: int) -> None:
    conversations.do_add_note(
        agent=agent, conversation_id=conversation_id, text=scene.fill(step[1], agent.name)
    )


def _status(scene: _Scene, step: Any, agent: User, conversation_id: int) -> None:
    conversations.do_set_status(actor=agent, conversation_id=conversation_id, status=step[1])


def _snooze(scene: _Scene, step: Any, agent: User, conversation_id: int) -> None:
    conversations.do_set_status(
        actor=agent,
        conversation_id=conversation_id,
        status=Conversation.Status.SNOOZED,
        snoozed_until=scene.play.now + timedelta(hours=step[1]),
    )


def _transfer_team(scene: _Scene, step: Any, agent: User, conversation_id: int) -> None:
    conversations.do_transfer(
        actor=agent,
        conversation_id=conversation_id,
        note=scene.fill(step[2], agent.name),
        to_team=scene.play.teams[step[1]],
    )


def _transfer_user(scene: _Scene, step: Any, agent: User, conversation_id: int) -> None:
    conversations.do_transfer(
        actor=agent,
        conversation_id=conversation_id,
        note=scene.fill(step[2], agent.name),
        to_user=scene.play.users[step[1]],
    )


def _ticket(scene: _Scene, step: Any, agent: User, conversation_id: int) -> None:
    """A ticket from the conversation, handed to a department when the scenario names one."""
    spec = step[1]
    ticket = do_create_ticket(
        actor=agent,
        conversation_id=conversation_id,
        title=spec["title"],
        category=spec.get("category"),
        urgent=spec.get("urgent"),
        important=spec.get("important"),
    )
    if spec.get("department"):
        fields = {k: scene.fill(v, agent.name) for k, v in spec.get("fields", {}).items()}
        do_transfer_ticket(
            actor=agent,
            ticket_id=ticket.pk,
            department_id=scene.play.departments[spec["department"]].pk,
            fields=fields,
            note="请协助处理",
        )


_AGENT_STEPS: dict[str, Callable[[_Scene, Any, User, int], None]] = {
    "wait": _wait,
    "complaint": _complaint,
    "resolve": _complaint,
    "confirm": _complaint,
    "a": _reply,
    "note": _note,
    "status": _status,
    "snooze": _snooze,
    "transfer_team": _transfer_team,
    "transfer_user": _transfer_user,
    "ticket": _ticket,
}


def _gap(rng: random.Random, m: dict[str, Any]) -> int:
    if m["kind"] in (Message.Kind.AUTO, Message.Kind.EVENT):
        return rng.randint(2, 8)
    if m["kind"] in (Message.Kind.NOTE, Message.Kind.CALL):
        return rng.randint(30, 150)
    if m["direction"] == Message.Direction.INCOMING:
        return rng.randint(40, 300)
    return rng.randint(25, 150)


def _backdate(
    rng: random.Random,
    conversation_id: int,
    start: datetime,
    now: datetime,
    waits: dict[int, float] | None = None,
) -> None:
    """Spread a played conversation's messages from ``start`` on, as if it had happened then."""
    waits = waits or {}
    msgs = list(
        Message.objects.filter(conversation_id=conversation_id)
        .order_by("id")
        .values("id", "direction", "kind", "sender_id", "meta", "created_at")
    )
    offsets: list[float] = [0]
    for previous, m in zip(msgs, msgs[1:], strict=False):
        offsets.append(offsets[-1] + waits.get(previous["id"], 0) + _gap(rng, dict(m)))
    start = min(start, now - timedelta(seconds=offsets[-1] + 20))
    times = {m["id"]: start + timedelta(seconds=o) for m, o in zip(msgs, offsets, strict=True)}
    for m in msgs:
        Message.objects.filter(pk=m["id"]).update(created_at=times[m["id"]])
        if m["kind"] == Message.Kind.CALL:
            CallLog.objects.filter(message_id=m["id"]).update(created_at=times[m["id"]])
    for delivery in OutboundDelivery.objects.filter(message__conversation_id=conversation_id):
        # History: these replies went out when they were written.
        OutboundDelivery.objects.filter(pk=delivery.pk).update(
            status=OutboundDelivery.Status.SENT,
            sent_at=times[delivery.message_id],
            attempts=1,
            next_attempt_at=None,
        )
    conv = Conversation.objects.get(pk=conversation_id)
    first, last = times[msgs[0]["id"]], times[msgs[-1]["id"]]

    def last_of(pred: Any) -> datetime | None:
        found = [times[m["id"]] for m in msgs if pred(m)]
        return found[-1] if found else None

    def first_of(pred: Any) -> datetime | None:
        found = [times[m["id"]] for m in msgs if pred(m)]
        return found[0] if found else None

    agent_reply = lambda m: m["direction"] == Message.Direction.OUTGOING and m["sender_id"] is not None  # noqa: E731
    shift = first - conv.created_at
    Conversation.objects.filter(pk=conversation_id).update(
        created_at=first,
        updated_at=last,
        last_message_at=last,
        last_customer_message_at=last_of(lambda m: m["direction"] == Message.Direction.INCOMING),
        last_agent_message_at=last_of(agent_reply),
        first_response_at=first_of(agent_reply) if conv.first_response_at else None,
        first_response_due=conv.first_response_due + shift if conv.first_response_due else None,
        queued_at=first if conv.queued_at else None,
        resolved_at=last if conv.resolved_at else None,
    )

    EmotionAlert.objects.filter(conversation_id=conversation_id).update(
        created_at=last_of(lambda m: m["direction"] == Message.Direction.INCOMING) or first
    )
    for m in msgs:
        ticket_id = (m["meta"] or {}).get("ticket_id")
        if ticket_id:
            _backdate_ticket(ticket_id, times[m["id"]])

    def fake(real: datetime) -> datetime:
        """The backdated time of a moment during play: just after the message before it
        (and after the silence that followed it, if any)."""
        before = [m for m in msgs if m["created_at"] <= real]
        if not before:
            return first
        m = before[-1]
        return times[m["id"]] + timedelta(seconds=waits.get(m["id"], 0)) + (real - m["created_at"])

    _backdate_complaints(conversation_id, fake)


def _backdate_complaints(conversation_id: int, fake: Any) -> None:
    """Move a conversation's complaint along with its messages, stage by stage.

    Each moment moves with the message it followed, and a due time with the moment it
    was set from, so a follow-up falls due three days after the (backdated) confirmation.
    """
    for c in Complaint.objects.filter(ticket__conversations__id=conversation_id).distinct():
        moved: dict[str, Any] = {"created_at": fake(c.created_at)}
        for name in ("last_update_at", "resolved_at", "customer_confirmed_at", "follow_up_done_at"):
            if getattr(c, name) is not None:
                moved[name] = fake(getattr(c, name))
        if c.next_update_due is not None:
            since = c.last_update_at or c.created_at
            moved["next_update_due"] = c.next_update_due + (fake(since) - since)
        if c.follow_up_due is not None and c.customer_confirmed_at is not None:
            shift = fake(c.customer_confirmed_at) - c.customer_confirmed_at
            moved["follow_up_due"] = c.follow_up_due + shift
            for f in FollowUp.objects.filter(ticket_id=c.ticket_id, done_at__isnull=True):
                FollowUp.objects.filter(pk=f.pk).update(
                    due_at=f.due_at + shift, created_at=fake(f.created_at)
                )
        Complaint.objects.filter(pk=c.pk).update(**moved)


def _backdate_ticket(ticket_id: int, at: datetime) -> None:
    ticket = Ticket.objects.get(pk=ticket_id)
    shift = at - ticket.created_at
    moved = {
        f: getattr(ticket, f) + shift
        for f in (
            "created_at",
            "updated_at",
            "first_response_due",
            "first_response_at",
            "due_at",
            "resolved_at",
        )
        if getattr(ticket, f) is not None
    }
    Ticket.objects.filter(pk=ticket_id).update(**moved)
    for event in TicketEvent.objects.filter(ticket_id=ticket_id):
        TicketEvent.objects.filter(pk=event.pk).update(created_at=event.created_at + shift)


def _later_today(now: datetime) -> datetime:
    """18:00 today, or in an hour when that is too close (a demo built in the evening)."""
    local = timezone.localtime(now)
    six = local.replace(hour=18, minute=0, second=0, microsecond=0)
    return six if six - local >= timedelta(minutes=30) else local + timedelta(hours=1)


def _since(play: _Play, items: list[tuple[Scenario, _Played, _Seed]]) -> None:
    """What happened after the conversations, done now: progress, compensation, promises."""
    broken: list[int] = []
    past: list[tuple[int, str, float, int]] = []  # promise, outcome, hours, complaint
    for sc, played, seed in items:
        agent = played.agent
        if agent is None or played.complaint_id is None:
            raise ValueError(f"demo scenario {sc['key']}: 'after' needs an agent and a complaint")
        with transaction.atomic():
            for step in sc["after"]:
                action = step[0]
                if action == "compensation":
                    compensation.do_request_compensation(
                        actor=agent,
                        kind=step[1],
                        amount=_fill(step[2], seed, agent.name),
                        reason=_fill(step[3], seed, agent.name),
                        complaint_id=played.complaint_id,
                    )
                elif action == "promise":
                    now = timezone.now()
                    outcome = step[2]
                    due = {
                        "open": _later_today(now),
                        "kept": now + timedelta(hours=3),
                        # Due in a moment; the sweep below finds it missed.
                        "broken": now + timedelta(seconds=5),
                    }[outcome]
                    promise = promises.do_make_promise(
                        actor=agent,
                        description=_fill(step[1], seed, agent.name),
                        due_at=due,
                        # A missed promise is told to the customer in its conversation; a
                        # phone call has no one listening there.
                        conversation_id=played.conversation_id if sc["channel"] != "phone" else None,
                        complaint_id=played.complaint_id,
                    )
                    if outcome == "kept":
                        promises.do_keep_promise(actor=agent, promise_id=promise.pk)
                    elif outcome == "broken":
                        broken.append(promise.pk)
                    if outcome != "open":
                        past.append((promise.pk, outcome, step[3], played.complaint_id))
                else:
                    _complaint_step(play, action, step[1], agent=agent, played=played, seed=seed)
    if broken:
        due = max(Promise.objects.filter(pk__in=broken).values_list("due_at", flat=True))
        complaints.do_sweep(now=due + timedelta(minutes=1))
    # Kept and missed promises were made when their complaint was (the clock is faked
    # as for the conversations): due ``hours`` later, kept half an hour early, or
    # found missed by the sweep a minute after.
    opened = dict(Complaint.objects.filter(pk__in=[p[3] for p in past]).values_list("pk", "created_at"))
    for promise_id, outcome, hours, complaint_id in past:
        made = opened[complaint_id] + timedelta(minutes=2)
        due = made + timedelta(hours=hours)
        moved: dict[str, Any] = {"created_at": made, "due_at": due}
        if outcome == "kept":
            moved["kept_at"] = due - timedelta(minutes=30)
        else:
            moved["broken_at"] = due + timedelta(minutes=1)
        Promise.objects.filter(pk=promise_id).update(**moved)
