"""The wall screen's socket ``/ws/wallboard/?token=<display key>`` (docs/wallboard.md).

Read-only: it joins the desk groups of the token's team (or ``desk.all``) only to hear
that something changed, never forwards an event, and pushes the masked board
(``{"type": "wallboard", "snapshot"}``). Any frame a client sends is refused; revoking
the token closes the socket with 4401 at once (``wallboard.display.<id>``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async

from kefu.conversations.consumers import CLOSE_UNAUTHORIZED, JsonSocket, SnapshotFeed
from kefu.core.errors import InvalidInput, KefuError
from kefu.core.events import DESK_ALL, desk_team_group

from .services import access_display_board, authenticate_display, display_group


class DisplayConsumer(SnapshotFeed, JsonSocket):
    socket_kind = "wallboard"
    key: str | None = None

    async def connect(self) -> None:
        self.groups_joined = []
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        self.key = (query.get("token") or [None])[0]
        try:
            token = await database_sync_to_async(authenticate_display)(self.key)
        except KefuError:
            await self.reject(CLOSE_UNAUTHORIZED)
            return
        await self.accept()
        await self.join(display_group(token.pk))
        await self.join(DESK_ALL if token.team_id is None else desk_team_group(token.team_id))
        await self.start_feed()

    async def disconnect(self, code: int) -> None:
        await self.stop_feed()
        await super().disconnect(code)

    def board_snapshot(self) -> dict[str, Any]:
        return access_display_board(self.key)

    async def board_refused(self, exc: KefuError) -> None:
        await self.leave_all_groups()
        await self.close(code=CLOSE_UNAUTHORIZED)

    async def handle_frame(self, content: dict[str, Any]) -> None:
        raise InvalidInput("投屏看板只读，不接受任何操作", fields={"type": "只读"})

    # --- group messages: a change somewhere in scope, never forwarded -----------------

    async def desk_event(self, event: dict[str, Any]) -> None:
        self.poke()

    async def desk_activity(self, event: dict[str, Any]) -> None:
        self.poke()

    async def typing_event(self, event: dict[str, Any]) -> None:
        return None

    async def read_event(self, event: dict[str, Any]) -> None:
        return None

    async def desk_access(self, event: dict[str, Any]) -> None:
        return None

    async def display_revoked(self, event: dict[str, Any]) -> None:
        await self.stop_feed()
        await self.leave_all_groups()
        await self.close(code=CLOSE_UNAUTHORIZED)
