"""A real HTTP receiver on 127.0.0.1 for webhook tests: records requests, checks the
signature like an integration would (401 when ``secret`` is set and it does not
match), then answers with the next scripted status code (then 200)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    def __init__(self, statuses: list[int] | None = None):
        self.statuses = list(statuses or [])
        self.requests: list[dict[str, Any]] = []
        self.url = ""
        self.secret = ""
        self.lock = threading.Lock()


@contextmanager
def receiver(statuses: list[int] | None = None) -> Iterator[Receiver]:
    state = Receiver(statuses)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            from kefu.core import signing

            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            verified = bool(state.secret) and signing.verify(
                state.secret,
                timestamp=self.headers.get("X-Kefu-Timestamp", ""),
                delivery=self.headers.get("X-Kefu-Delivery", ""),
                signature=self.headers.get("X-Kefu-Signature", ""),
                body=body,
            )
            with state.lock:
                state.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body, "verified": verified}
                )
                if state.secret and not verified:
                    status = 401
                else:
                    status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
