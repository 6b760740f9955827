"""The customer chat socket ``/ws/chat/?token=…`` (protocol: docs/architecture.md).

A message is acknowledged only after ``do_receive_customer_message`` has stored it,
so an ack means "durable"; a resend with the same ``client_msg_id`` is acked with the
message already stored. The socket follows the visitor's current conversation group
``chat.conv.<id>``, which only ever carries public payloads (the publisher builds
them; private notes are never published there). Messages and the other frames count
against the visitor's rate limits; a refused one gets an error frame naming the limit.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async

from kefu.bot.services import do_receive_chat_and_answer
from kefu.conversations.consumers import CLOSE_UNAUTHORIZED, JsonSocket, int_field
from kefu.conversations.models import Conversation
from kefu.conversations.presenters import public_message_dict
from kefu.conversations.timeline import (
    current_customer_conversation,
    do_mark_read,
    messages_after,
    rating_requested,
    send_typing_now,
)
from kefu.core.errors import InvalidInput, RateLimited, Unauthorized
from kefu.core.events import chat_conversation_group
from kefu.proactive.services import do_note_chat_seen

from .models import Channel
from .services import (
    check_chat_connect,
    check_chat_signal,
    web_desk_state_for_visitor,
)
from .visitor import Visitor, read_visitor_token, web_chat_channel

# The channel behind the token is gone or switched off: retrying will not help.
CLOSE_CHANNEL_UNAVAILABLE = 4404
# Too many connections from this address: retry later, with backoff.
CLOSE_TOO_MANY = 4429


class ChatConsumer(JsonSocket):
    """One visitor on one web channel."""

    socket_kind = "chat"

    visitor: Visitor
    channel: Channel
    conversation_id: int | None

    async def connect(self) -> None:
        self.groups_joined = []
        self.conversation_id = None
        token = parse_qs(self.scope.get("query_string", b"").decode("latin1")).get("token", [""])[0]
        try:
            self.visitor = read_visitor_token(token)
        except Unauthorized:
            await self.reject(CLOSE_UNAUTHORIZED)
            return
        try:
            channel, conversation = await database_sync_to_async(self._connect_current)()
        except RateLimited:
            await self.reject(CLOSE_TOO_MANY)
            return
        if channel is None:
            await self.reject(CLOSE_CHANNEL_UNAVAILABLE)
            return
        self.channel = channel
        await self.accept()
        if conversation is not None:
            await self._follow(conversation.pk)

    def _connect_current(self) -> tuple[Channel | None, Conversation | None]:
        check_chat_connect(self.ip)
        channel, conversation = self._current()
        if channel is not None:
            self._seen(channel.pk)
        return channel, conversation

    def _seen(self, channel_id: int) -> None:
        # Proactive messages go to the chat while the customer has it open (docs/proactive.md).
        do_note_chat_seen(channel_id=channel_id, visitor_id=self.visitor.visitor_id)

    def _current(self) -> tuple[Channel | None, Conversation | None]:
        channel = web_chat_channel(self.visitor.channel_id)
        if channel is None:
            return None, None
        return channel, current_customer_conversation(channel=channel, identities=self.visitor.identities)

    async def _follow(self, conversation_id: int) -> bool:
        """Listen to ``conversation_id``'s customer group; returns whether it is new to this socket."""
        if conversation_id == self.conversation_id:
            return False
        if self.conversation_id is not None:
            await self.leave(chat_conversation_group(self.conversation_id))
        await self.join(chat_conversation_group(conversation_id))
        self.conversation_id = conversation_id
        return True

    # --- client → server ------------------------------------------------------------

    async def handle_frame(self, content: dict[str, Any]) -> None:
        try:
            await self._handle(content)
        except RateLimited as exc:
            await self.send_error(
                None,
                exc.message,
                limit=exc.limit,
                retry_after=exc.retry_after,
                **self.error_context(content),
            )

    async def _handle(self, content: dict[str, Any]) -> None:
        kind = content.get("type")
        if kind == "message":
            await self._message(content)
        elif kind == "resume":
            after = int_field(content, "after", required=False)
            await self._resume(after)
        elif kind == "typing":
            # No database: the visitor's limit is counted on a worker thread (not the one
            # that does every socket's database work), and the indicator goes to the desks
            # showing the conversation this socket follows.
            await sync_to_async(check_chat_signal, thread_sensitive=False)(self.visitor)
            if self.conversation_id is not None:
                await send_typing_now(self.conversation_id, by_customer=True)
        elif kind == "read":
            message_id = int_field(content, "message_id", minimum=1)
            await database_sync_to_async(self._read)(message_id)
        elif kind == "desk":
            await self.send_json({"type": "desk", **await database_sync_to_async(self._desk)()})
        else:
            raise InvalidInput(
                "未知的消息类型", fields={"type": "应为 message、resume、typing、read 或 desk"}
            )

    def error_context(self, content: dict[str, Any]) -> dict[str, Any]:
        # The client drops a refused message from its resend queue by this id.
        client_msg_id = content.get("client_msg_id")
        return {"client_msg_id": client_msg_id} if isinstance(client_msg_id, str) else {}

    async def _message(self, content: dict[str, Any]) -> None:
        client_msg_id = content.get("client_msg_id")
        if not isinstance(client_msg_id, str) or not client_msg_id:
            # Without it a resend after a reconnect would be stored twice.
            raise InvalidInput("缺少 client_msg_id", fields={"client_msg_id": "必填，最多64个字符的字符串"})
        message, conversation_id = await database_sync_to_async(self._store)(
            content.get("text"), client_msg_id
        )
        # A first message opens the conversation: follow it before acking so nothing
        # published from here on is missed, then send what was published before
        # (queue-position replies go out as soon as the message commits).
        joined = await self._follow(conversation_id)
        await self.send_json({"type": "ack", "client_msg_id": client_msg_id, "message": message})
        if joined:
            await self._send_history(0)

    def _store(self, text: Any, client_msg_id: str) -> tuple[dict[str, Any], int]:
        message, _created = do_receive_chat_and_answer(
            channel=self.channel, visitor=self.visitor, ip=self.ip, text=text, client_msg_id=client_msg_id
        )
        return public_message_dict(message), message.conversation_id

    @property
    def ip(self) -> str | None:
        client = self.scope.get("client")
        return client[0] if client else None

    async def _resume(self, after: int) -> None:
        # Another tab, or an image upload over HTTP, may have opened a conversation
        # since this socket connected: look again before answering.
        _channel, conversation, desk = await database_sync_to_async(self._resume_current)()
        if conversation is not None:
            await self._follow(conversation.pk)
        await self._send_history(after, always=True)
        # Open, busy or closed, and when it opens: the page's header and 留言 button follow it.
        await self.send_json({"type": "desk", **desk})
        # A visitor who left before the rating invitation arrived still gets it.
        if conversation is not None and rating_requested(conversation):
            await self.send_json({"type": "status", "status": conversation.status, "rating_requested": True})

    async def _send_history(self, after: int, *, always: bool = False) -> None:
        conversation_id = self.conversation_id
        messages = []
        if conversation_id is not None:
            messages = await database_sync_to_async(self._history)(conversation_id, after)
        if messages or always:
            await self.send_json({"type": "history", "messages": messages})

    def _history(self, conversation_id: int, after: int) -> list[dict[str, Any]]:
        conversation = Conversation.objects.get(pk=conversation_id)
        return [public_message_dict(m) for m in messages_after(conversation, after, public_only=True)]

    def _resume_current(self) -> tuple[Channel | None, Conversation | None, dict[str, Any]]:
        check_chat_signal(self.visitor)
        channel, conversation = self._current()
        self._seen(self.channel.pk)
        return channel, conversation, web_desk_state_for_visitor(channel or self.channel, self.visitor)

    def _desk(self) -> dict[str, Any]:
        check_chat_signal(self.visitor)
        self._seen(self.channel.pk)
        return web_desk_state_for_visitor(self.channel, self.visitor)

    def _read(self, message_id: int) -> None:
        check_chat_signal(self.visitor)
        conversation = self._conversation()
        if conversation is not None:
            do_mark_read(conversation=conversation, by_customer=True, message_id=message_id)

    def _conversation(self) -> Conversation | None:
        """The followed conversation, fresh (its team and assignee decide who hears typing)."""
        if self.conversation_id is None:
            return None
        return Conversation.objects.filter(pk=self.conversation_id).first()

    # --- group messages → client ----------------------------------------------------

    async def chat_event(self, event: dict[str, Any]) -> None:
        data = event["payload"].get("data") or {}
        if "message" in data:
            await self.send_json({"type": "message", "message": data["message"]})
        elif "status" in data:
            frame = {"type": "status", "status": data["status"]}
            if data.get("rating_requested"):
                frame["rating_requested"] = True
            await self.send_json(frame)
        elif data.get("rated"):
            await self.send_json({"type": "rated"})

    async def typing_event(self, event: dict[str, Any]) -> None:
        payload = event["payload"]
        if payload.get("by") == "agent":
            await self.send_json({"type": "typing", "name": payload.get("name") or "客服"})

    async def read_event(self, event: dict[str, Any]) -> None:
        payload = event["payload"]
        if payload.get("by") == "agent":
            await self.send_json({"type": "read", "message_id": payload.get("message_id")})
