"""The Redis channel layer across event loops (the PostgreSQL + Redis run).

Each ``async_to_sync`` call and each async test runs a loop of its own. A loop that ends
while channels-redis still holds its receive lock (the cleanup task after a message had
not run yet) must not break the receives of every later loop.
"""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import get_channel_layer

from kefu.core.realtime import RedisChannelLayer


@pytest.fixture
def layer() -> RedisChannelLayer:
    layer = get_channel_layer()
    if not isinstance(layer, RedisChannelLayer):
        pytest.skip("needs the Redis channel layer (the PostgreSQL + Redis run)")
    return layer


def test_a_receive_lock_left_held_by_an_ended_loop_does_not_break_the_next_loop(layer):
    channel = asyncio.run(layer.new_channel())
    prefix_key = layer.prefix + channel[: channel.index("!") + 1]

    async def end_while_holding() -> None:
        # What a loop that ends before the cleanup task ran leaves behind.
        await layer.receive_clean_locks.acquire(prefix_key)

    asyncio.run(end_while_holding())

    async def send_and_receive() -> dict:
        await layer.send(channel, {"type": "ping", "text": "还在吗"})
        return await asyncio.wait_for(layer.receive(channel), 5)

    assert asyncio.run(send_and_receive())["text"] == "还在吗"


def test_two_receives_in_one_loop_still_take_turns(layer):
    async def both() -> list[str]:
        first, second = await layer.new_channel(), await layer.new_channel()
        await layer.send(first, {"type": "ping", "text": "一"})
        await layer.send(second, {"type": "ping", "text": "二"})
        got = await asyncio.gather(
            asyncio.wait_for(layer.receive(first), 5), asyncio.wait_for(layer.receive(second), 5)
        )
        return [m["text"] for m in got]

    assert asyncio.run(both()) == ["一", "二"]
