"""The agent desk socket ``/ws/desk/`` (protocol: docs/architecture.md).

Agents listen here for everything the event publisher sends to their groups and
signal typing / read / resume. They send messages over HTTP, never over this socket:
the HTTP reply is the stored message, which keeps one write path.

``JsonSocket`` is the base both kefu sockets share (the customer chat socket lives in
``kefu.channels.consumers``): malformed frames and domain errors become an
``{"type": "error", "field", "detail"}`` frame instead of a dropped connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict
from importlib import import_module
from typing import Any, cast

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import timezone

from kefu.accounts.access import team_ids_of
from kefu.accounts.models import StatusReason, User
from kefu.accounts.presence import do_go_offline, do_heartbeat
from kefu.conversations.timeline import (
    access_conversation,
    do_mark_read,
    messages_after,
    send_typing_now,
    visible_conversations,
)
from kefu.core import drain, outage, realtime, telemetry
from kefu.core.errors import InvalidInput, KefuError
from kefu.core.events import desk_conversation_group, desk_groups, is_conversation_group
from kefu.core.fields import check_json
from kefu.wallboard.services import access_wallboard, scope_for

from .presenters import message_dict

log = logging.getLogger(__name__)

DESK_FRAMES = "kefu_desk_frames_total"
DESK_FRAMES_HELP = "Event and activity frames sent to desk sockets."

# Application close codes (4000–4999): the client must not retry with the same credentials.
CLOSE_UNAUTHORIZED = 4401
# What a client sees when the server side of a socket fails (RFC 6455).
WS_ABNORMAL_CLOSURE = 1006


def int_field(content: dict[str, Any], field: str, *, minimum: int = 0, required: bool = True) -> int:
    """An integer frame field (booleans are not integers here); raises ``InvalidInput``."""
    value = content.get(field)
    if value is None and not required:
        return minimum
    if type(value) is not int or value < minimum:
        raise InvalidInput(f"{field} 必须是不小于 {minimum} 的整数", fields={field: "无效"})
    return value


class JsonSocket(AsyncJsonWebsocketConsumer):
    """JSON frames in, JSON frames out; bad frames get an error frame, the socket stays open."""

    groups_joined: list[str]
    disconnected = False
    socket_kind = "desk"  # the label of kefu_websockets_open (GET /metrics)

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels runs close_old_connections() before every handler, as a hop onto the
        # one thread that does all database work. Forwarding an event would then wait
        # behind every other socket's writes: under a burst of customer messages the
        # desk fell seconds behind and the in-memory layer dropped events. Handlers
        # here touch the database only through database_sync_to_async, which closes
        # stale connections on its own, so the hop is skipped.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        if text_data is None:
            await self.send_error(None, "只接受 JSON 文本帧")
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            await self.send_error(None, "不是有效的 JSON")
            return
        if not isinstance(content, dict):
            await self.send_error(None, "消息必须是 JSON 对象")
            return
        breaker = outage.SOCKETS
        try:
            # The text boundary of the sockets (docs/api.md, "Text"): a NUL or a lone
            # surrogate anywhere in a frame is refused with an error frame that names
            # the field and echoes the client's message id, so the client drops the
            # message instead of resending it forever.
            check_json(content)
            if not breaker.allow():
                # The database failed a moment ago: answer at once rather than queue
                # this frame behind another pool timeout on the shared database thread.
                await self.send_unavailable(content)
                return
            await self.handle_frame(content)
        except KefuError as exc:
            breaker.succeeded()
            await self.send_error(next(iter(exc.fields), None), exc.message, **self.error_context(content))
        except outage.DATABASE_ERRORS as exc:
            # PostgreSQL restarting: nothing of this frame was stored. The client keeps
            # the message (or its resume) and sends it again after the hint.
            breaker.failed()
            log.warning(
                "%s socket frame %r failed, database unavailable: %r",
                self.socket_kind,
                content.get("type"),
                exc,
            )
            await self.send_unavailable(content)
        except BaseException:
            if breaker.trial:  # not a database failure: let the next frame try
                breaker.succeeded()
            raise
        else:
            breaker.succeeded()

    async def send_unavailable(self, content: dict[str, Any]) -> None:
        await self.send_error(
            None,
            outage.DETAIL,
            code="unavailable",
            retry_after_ms=outage.RETRY_AFTER_SECONDS * 1000,
            **self.error_context(content),
        )

    async def handle_frame(self, content: dict[str, Any]) -> None:
        raise NotImplementedError

    def error_context(self, content: dict[str, Any]) -> dict[str, Any]:
        """Fields copied from the offending frame into the error frame, so the client can match them."""
        return {}

    async def send_error(self, field: str | None, detail: str, **extra: Any) -> None:
        await self.send_json({"type": "error", "field": field, "detail": detail, **extra})

    async def join(self, group: str) -> None:
        # Joined even when Redis is down: the socket stays open, and joins again when
        # the layer is back (``realtime_restored``).
        self.groups_joined.append(group)
        try:
            await self.channel_layer.group_add(group, self.channel_name)
        except realtime.LAYER_ERRORS as exc:
            realtime.report(exc)

    async def leave(self, group: str) -> None:
        self.groups_joined.remove(group)
        try:
            await self.channel_layer.group_discard(group, self.channel_name)
        except realtime.LAYER_ERRORS as exc:  # the group expires in Redis on its own
            realtime.report(exc)

    # --- the channel layer going down and coming back (kefu.core.realtime) -------------
    accepted = False

    async def accept(self, subprotocol: str | None = None, headers: Any = None) -> None:
        await super().accept(subprotocol, headers)
        self.accepted = True
        if not realtime.should_send():
            await self.realtime_lost()

    async def realtime_lost(self) -> None:
        if self.accepted and not self.disconnected:
            await self.send_json({"type": "realtime", "status": "degraded"})

    async def realtime_restored(self) -> None:
        """Join every group again (Redis may have lost them), then let the client catch up."""
        for group in list(getattr(self, "groups_joined", ())):
            await self.channel_layer.group_add(group, self.channel_name)
        if self.accepted and not self.disconnected:
            await self.send_json({"type": "realtime", "status": "ok"})

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # A handler or the channel layer that fails ends the consumer without a
        # websocket.disconnect: its groups must still be left, or every event sent to
        # them piles up in a channel nobody reads ("over capacity" on Redis).
        labels = {"kind": self.socket_kind}
        telemetry.gauge_add("kefu_websockets_open", "Websockets open on this process.", labels)
        drain.register(self)  # closed with 1012 and a reconnect hint on shutdown (kefu.core.drain)
        realtime.watch(get_channel_layer(self.channel_layer_alias), self)
        try:
            await super().__call__(scope, receive, send)
        finally:
            drain.unregister(self)
            realtime.unwatch(self)
            telemetry.gauge_add("kefu_websockets_open", "Websockets open on this process.", labels, -1)
            if not self.disconnected:
                try:
                    await self.disconnect(WS_ABNORMAL_CLOSURE)
                except Exception:
                    log.warning("clean-up after a failed socket failed", exc_info=True)
            await self.leave_all_groups()

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        # A handshake that slipped in while the process stops: send it elsewhere at once.
        if drain.is_draining():
            await self.reject(drain.CLOSE_SERVICE_RESTART)
            return
        try:
            await super().websocket_connect(message)
        except outage.DATABASE_ERRORS as exc:
            # The database is restarting: tell the client to come back soon (1013, "try
            # again later") rather than fail the handshake, which it would meet with backoff.
            log.warning("%s socket handshake failed, database unavailable: %r", self.socket_kind, exc)
            outage.SOCKETS.failed()
            if not self.accepted:
                await super().accept()
                self.accepted = True
            await self.send_json(outage.reconnect_hint())
            await self.close(code=outage.CLOSE_TRY_AGAIN_LATER)

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        self.disconnected = True
        await super().websocket_disconnect(message)

    async def disconnect(self, code: int) -> None:
        await self.leave_all_groups()

    async def leave_all_groups(self) -> None:
        """Leave every group joined; idempotent, and a failing layer is only logged."""
        groups, self.groups_joined = list(getattr(self, "groups_joined", ())), []
        for group in groups:
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception:  # the layer itself may be what failed
                log.warning("could not leave group %s", group, exc_info=True)

    async def reject(self, code: int) -> None:
        # Accept first: a close before accept is an HTTP 403 and the browser never
        # sees the code that tells it not to retry.
        await self.accept()
        await self.close(code=code)


class SnapshotFeed:
    """Pushes ``{"type": "wallboard", "snapshot": …}`` to a socket while its board is open.

    The snapshot is computed again every ``KEFU_WALLBOARD_REFRESH_SECONDS`` (waits grow,
    timers run down) and soon after any desk event the socket hears (``poke``), at most
    once per ``KEFU_WALLBOARD_DEBOUNCE_SECONDS``: a burst of events costs one snapshot.
    The socket's groups decide which events wake it, so a lead's board wakes for their
    teams' events only; the snapshot itself is scoped by ``board_snapshot``.
    """

    feed_task: asyncio.Task[None] | None = None
    feed_wake: asyncio.Event | None = None

    def board_snapshot(self) -> dict[str, Any]:  # runs on the database thread
        raise NotImplementedError

    async def board_refused(self, exc: KefuError) -> None:
        await cast(JsonSocket, self).send_error("wallboard", exc.message)

    async def start_feed(self) -> None:
        if self.feed_task is not None:
            self.poke()
            return
        self.feed_wake = asyncio.Event()
        self.feed_task = asyncio.create_task(self._feed())

    async def stop_feed(self) -> None:
        task, self.feed_task = self.feed_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def poke(self) -> None:
        if self.feed_wake is not None:
            self.feed_wake.set()

    async def _feed(self) -> None:
        assert self.feed_wake is not None
        while True:
            self.feed_wake.clear()
            try:
                snapshot = await database_sync_to_async(self.board_snapshot)()
            except KefuError as exc:  # no longer allowed (role changed, token revoked)
                self.feed_task = None
                await self.board_refused(exc)
                return
            except Exception:  # a database hiccup: the next refresh tries again
                log.exception("wallboard snapshot failed")
            else:
                await cast(JsonSocket, self).send_json({"type": "wallboard", "snapshot": snapshot})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.feed_wake.wait(), timeout=settings.KEFU_WALLBOARD_REFRESH_SECONDS)
            await asyncio.sleep(settings.KEFU_WALLBOARD_DEBOUNCE_SECONDS)


class DeskConsumer(SnapshotFeed, JsonSocket):
    """Agent desk socket: forwards desk events, typing and read signals; serves resume."""

    # A supervisor who is also in a team is in two groups that both get the event;
    # remembering recent event ids keeps it to one frame (clients de-duplicate too).
    RECENT_EVENTS = 512
    # Conversations one socket may have open at once (``desk.conv.<id>`` groups); the
    # one opened longest ago is let go first.
    WATCH_LIMIT = 20

    recheck_task: asyncio.Task[None] | None = None
    heartbeat_task: asyncio.Task[None] | None = None
    activity_task: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self.groups_joined = []
        self.user = self.scope.get("user")
        if self.user is None or not self.user.is_authenticated or not self.user.is_active:
            await self.reject(CLOSE_UNAUTHORIZED)
            return
        self.recent: OrderedDict[str, None] = OrderedDict()
        self.watched: OrderedDict[int, None] = OrderedDict()
        self.activity: dict[int, dict[str, Any]] = {}
        self.connected_at = timezone.now()
        await self.accept()
        groups = await database_sync_to_async(self._groups)()
        for group in groups:
            await self.join(group)
        await database_sync_to_async(do_heartbeat)(self.user.pk)
        self.recheck_task = asyncio.create_task(self._recheck_every(settings.KEFU_DESK_RECHECK_SECONDS))
        self.heartbeat_task = asyncio.create_task(
            self._heartbeat_every(settings.KEFU_PRESENCE_HEARTBEAT_SECONDS)
        )

    async def disconnect(self, code: int) -> None:
        # Nothing is marked offline here: a page change closes the socket too, and the
        # next page's socket arrives within the grace. Without one, the heartbeat stops
        # and the worker's presence sweep takes the agent offline (docs/presence.md).
        await self.stop_feed()
        for name in ("recheck_task", "heartbeat_task", "activity_task"):
            task = getattr(self, name)
            setattr(self, name, None)
            if task is not None and task is not asyncio.current_task():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await super().disconnect(code)

    def _groups(self) -> list[str]:
        return desk_groups(self.user.pk, team_ids_of(self.user), sees_all=self.user.sees_all)

    # --- access re-checks -----------------------------------------------------------
    # A socket lives for hours. When the session ends (logout, idle lock, expiry), the
    # account is disabled, or the agent's teams or role change, the socket must follow:
    # ``desk.access`` (from ``core.events.notify_access_changed``) asks at once, and a
    # timer asks every KEFU_DESK_RECHECK_SECONDS in case a change came another way
    # (the Django admin, a session that simply expired).

    def _session_key(self) -> str | None:
        return getattr(self.scope.get("session"), "session_key", None)

    def _current_groups(self, watched: list[int]) -> list[str] | str | None:
        """The groups this socket should be in now, or why it must close.

        ``None``: the account is gone. A reason (``StatusReason``): the session
        expired or the account was disabled, which also takes the agent offline.
        """
        user = User.objects.filter(pk=self.user.pk).first()
        if user is None:
            return None
        if not user.is_active:
            return StatusReason.DISABLED
        key = self._session_key()
        engine = import_module(settings.SESSION_ENGINE)
        if key is None or not engine.SessionStore().exists(key):
            return StatusReason.SESSION_EXPIRED
        self.user = user
        groups = self._groups()
        # The conversations open on this desk (``watched``) that it may still see.
        visible = set(visible_conversations(user).filter(pk__in=watched).values_list("pk", flat=True))
        return groups + [desk_conversation_group(pk) for pk in watched if pk in visible]

    def _go_offline(self, reason: str) -> None:
        # Unless she chose a status since this socket opened: she signed in again elsewhere.
        do_go_offline(self.user.pk, reason=reason, unless_changed_after=self.connected_at)

    async def recheck_access(self, *, ended_session: str | None = None) -> None:
        key = self._session_key()
        groups = (
            None
            if ended_session and ended_session == key
            else await database_sync_to_async(self._current_groups)(list(self.watched))
        )
        if isinstance(groups, list):
            for pk in [pk for pk in self.watched if desk_conversation_group(pk) not in groups]:
                del self.watched[pk]
        if not isinstance(groups, list):
            for group in list(self.groups_joined):
                await self.leave(group)
            if groups is not None:
                await database_sync_to_async(self._go_offline)(groups)
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        changed = False
        for group in [g for g in self.groups_joined if g not in groups]:
            await self.leave(group)
            changed = True
        for group in [g for g in groups if g not in self.groups_joined]:
            await self.join(group)
            changed = True
        if changed:
            await self.send_json({"type": "access", "groups": len(self._groups_of_access(groups))})

    @staticmethod
    def _groups_of_access(groups: list[str]) -> list[str]:
        """The groups given by role and teams (not the conversations open on the desk)."""
        return [g for g in groups if not is_conversation_group(g)]

    async def _recheck_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await self.recheck_access()
            except Exception:  # a database hiccup must not kill the timer; try again later
                log.exception("desk socket access re-check failed")

    async def _heartbeat_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await database_sync_to_async(do_heartbeat)(self.user.pk)
            except Exception:  # the next beat tries again; the grace covers a few misses
                log.exception("desk socket heartbeat failed")

    async def desk_access(self, event: dict[str, Any]) -> None:
        await self.recheck_access(ended_session=event["payload"].get("ended_session"))

    # --- client → server ------------------------------------------------------------

    async def handle_frame(self, content: dict[str, Any]) -> None:
        kind = content.get("type")
        if kind == "typing":
            conversation_id = int_field(content, "conversation_id", minimum=1)
            # Opened on this desk, its access was checked (and is re-checked on every access
            # change): the indicator goes out without the socket thread. Else checked now.
            if conversation_id not in self.watched:
                await database_sync_to_async(self._access)(conversation_id)
            await send_typing_now(conversation_id, by_customer=False, name=self.user.display_name or "客服")
        elif kind == "read":
            conversation_id = int_field(content, "conversation_id", minimum=1)
            message_id = int_field(content, "message_id", minimum=1)
            await database_sync_to_async(self._read)(conversation_id, message_id)
        elif kind == "resume":
            # Opens the conversation on this desk: its chatter arrives in full from now
            # on. The group is joined before the history is read, so nothing falls
            # between the two.
            conversation_id = int_field(content, "conversation_id", minimum=1)
            after = int_field(content, "after", required=False)
            await database_sync_to_async(self._access)(conversation_id)
            await self.watch(conversation_id)
            messages = await database_sync_to_async(self._history)(conversation_id, after)
            await self.send_json(
                {"type": "history", "conversation_id": conversation_id, "messages": messages}
            )
        elif kind == "wallboard":
            # The board of the teams this user may see (team leads and above), pushed
            # from now on; ``team_id`` narrows it to one of them.
            team_id = content.get("team_id")
            if team_id is not None:
                team_id = int_field(content, "team_id", minimum=1)
            await database_sync_to_async(scope_for)(self.user, team_id)
            self.board_team_id = team_id
            await self.start_feed()
        elif kind == "unwatch":
            await self.unwatch(int_field(content, "conversation_id", minimum=1))
        else:
            raise InvalidInput(
                "未知的消息类型", fields={"type": "应为 typing、read、resume、unwatch 或 wallboard"}
            )

    async def watch(self, conversation_id: int) -> None:
        if conversation_id in self.watched:
            self.watched.move_to_end(conversation_id)
            return
        self.watched[conversation_id] = None
        await self.join(desk_conversation_group(conversation_id))
        while len(self.watched) > self.WATCH_LIMIT:
            oldest, _ = self.watched.popitem(last=False)
            await self.leave(desk_conversation_group(oldest))

    async def unwatch(self, conversation_id: int) -> None:
        if conversation_id in self.watched:
            del self.watched[conversation_id]
            await self.leave(desk_conversation_group(conversation_id))

    def error_context(self, content: dict[str, Any]) -> dict[str, Any]:
        conversation_id = content.get("conversation_id")
        return {"conversation_id": conversation_id} if type(conversation_id) is int else {}

    board_team_id: int | None = None

    def board_snapshot(self) -> dict[str, Any]:
        return access_wallboard(self.user, self.board_team_id)

    def _read(self, conversation_id: int, message_id: int) -> None:
        conversation = access_conversation(self.user, conversation_id)
        do_mark_read(conversation=conversation, by_customer=False, message_id=message_id)

    def _access(self, conversation_id: int) -> None:
        access_conversation(self.user, conversation_id)

    def _history(self, conversation_id: int, after: int) -> list[dict[str, Any]]:
        conversation = access_conversation(self.user, conversation_id)
        return [message_dict(m) for m in messages_after(conversation, after, public_only=False)]

    # --- group messages → client ----------------------------------------------------

    async def desk_event(self, event: dict[str, Any]) -> None:
        payload = event["payload"]
        event_id = payload.get("id")
        if event_id in self.recent:
            return
        self.recent[event_id] = None
        if len(self.recent) > self.RECENT_EVENTS:
            self.recent.popitem(last=False)
        telemetry.count(DESK_FRAMES, DESK_FRAMES_HELP, {"type": "event"})
        await self.send_json({"type": "event", **payload})
        self.poke()

    async def desk_activity(self, event: dict[str, Any]) -> None:
        """Chatter about a conversation this desk does not have open: counted, sent once a second.

        One ``activity`` frame lists each conversation that moved since the last one,
        with how many events (``events``) and customer messages (``incoming``) it had:
        enough for the inbox, badges and the wallboard to ask again, and a socket's
        frames stay bounded by time, not by the floor's message rate.
        """
        payload = event["payload"]
        if payload.get("id") in self.recent:  # it came in full (the assignee, or open here)
            return
        conversation_id = payload["conversation_id"]
        entry = self.activity.get(conversation_id)
        if entry is None:
            entry = self.activity[conversation_id] = {
                "conversation_id": conversation_id,
                "events": 0,
                "incoming": 0,
            }
        entry.update(
            team_id=payload.get("team_id"),
            assignee_id=payload.get("assignee_id"),
            status=payload.get("status"),
        )
        entry["events"] += 1
        entry["incoming"] += 1 if payload.get("incoming") else 0
        if self.activity_task is None:
            self.activity_task = asyncio.create_task(self._flush_activity())

    async def _flush_activity(self) -> None:
        await asyncio.sleep(settings.KEFU_DESK_ACTIVITY_SECONDS)
        self.activity_task = None
        batch, self.activity = list(self.activity.values()), {}
        if batch:
            telemetry.count(DESK_FRAMES, DESK_FRAMES_HELP, {"type": "activity"})
            await self.send_json({"type": "activity", "conversations": batch})
            self.poke()

    async def typing_event(self, event: dict[str, Any]) -> None:
        await self.send_json({**event["payload"], "type": "typing"})

    async def read_event(self, event: dict[str, Any]) -> None:
        await self.send_json({**event["payload"], "type": "read"})
