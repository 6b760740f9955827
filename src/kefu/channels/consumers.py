from channels.generic.websocket import AsyncJsonWebsocketConsumer


class ChatConsumer(AsyncJsonWebsocketConsumer):
    """Customer chat socket (being written)."""

    async def connect(self) -> None:
        await self.close()
