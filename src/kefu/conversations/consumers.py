from channels.generic.websocket import AsyncJsonWebsocketConsumer


class DeskConsumer(AsyncJsonWebsocketConsumer):
    """Agent desk socket (being written)."""

    async def connect(self) -> None:
        await self.close()
