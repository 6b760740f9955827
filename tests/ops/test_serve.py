"""``kefu serve``'s uvicorn server on shutdown, in-process with a small ASGI app."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import uvicorn

from kefu.ops.management.commands import serve
from tests.realtime.cluster import free_port


async def _hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def test_kept_alive_http_connections_end_before_the_websocket_drain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """nginx must not send a request or a handshake down a kept connection to a draining process."""
    port = free_port()
    server = serve.DrainingServer(
        uvicorn.Config(_hello, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    running = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 200")
    assert await reader.readexactly(2) == b"ok"  # the connection stays open, idle

    during_drain: list[bytes] = []

    async def drain(*, spread_ms: int, timeout: float) -> int:
        # What the idle client connection reads while the websockets would be draining.
        try:
            during_drain.append(await asyncio.wait_for(reader.read(), 2))
        except TimeoutError:
            during_drain.append(b"(still open)")
        return 0

    monkeypatch.setattr(serve.drain, "drain", drain)
    server.should_exit = True
    await asyncio.wait_for(running, 10)
    writer.close()
    assert during_drain == [b""]  # closed by the server (EOF) before the drain


@pytest.mark.django_db(transaction=True)
def test_the_warm_up_loads_the_models_and_the_kb_index_before_any_request(monkeypatch) -> None:
    from kefu.kb import index
    from kefu.kb.models import Article
    from kefu.ops.warmup import warm_up

    Article.objects.create(title="保温杯漏水怎么办", body="请先检查杯盖密封圈是否装好。", status="published")
    index.reset_index()
    assert index._holder.index is None
    try:
        assert warm_up() > 0
        assert index._holder.index is not None
        article = Article.objects.get()
        assert [h.doc_id for h in index._holder.index.search("保温杯漏水", snippets=False)] == [article.pk]
    finally:
        index.reset_index()  # the next test's database has other articles


@pytest.mark.django_db(transaction=True)
def test_the_workers_warm_up_leaves_the_kb_index_alone() -> None:
    from kefu.kb import index
    from kefu.ops.warmup import warm_up

    index.reset_index()
    assert warm_up(kb=False) > 0
    assert index._holder.index is None


@pytest.mark.django_db(transaction=True)
def test_a_failed_warm_up_does_not_stop_the_server(monkeypatch) -> None:
    from django.db import OperationalError

    from kefu.ops import warmup

    def down(text: str) -> None:
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(warmup, "analyze_text", down)
    assert warmup.warm_up() == 0.0
