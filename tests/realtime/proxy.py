"""nginx in front of a ``Cluster``, configured by the shipped ``deploy/nginx/kefu.conf``.

``shipped_config`` renders that file with only what a test machine must change: the
upstream's ports, the listening address (plain HTTP on a free port instead of 443 with
TLS; or, with ``certificate=``, TLS kept), and the static root. The upstream's options,
the websocket upgrade, the forwarded headers, the timeouts and the retry rules are the
shipped ones. Every substitution must match, so a change of the file's shape fails
loudly here rather than leaving the tests to check something else.

``Nginx`` runs ``nginx -p <temp dir> -g 'daemon off;'`` with its pid, logs and temp
files in that directory: no root, no system paths, stopped on exit.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from .cluster import REPO, free_port, listens_on, terminate

SHIPPED = REPO / "deploy" / "nginx" / "kefu.conf"


def nginx_binary() -> str | None:
    """nginx on PATH, or where Debian installs it (``/usr/sbin`` is not on every user's PATH)."""
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def _sub(pattern: str, repl: str, text: str, *, count: int | None = 1, flags: int = re.M) -> str:
    new, n = re.subn(pattern, repl, text, flags=flags)
    if (count is None and n == 0) or (count is not None and n != count):
        raise AssertionError(f"deploy/nginx/kefu.conf changed shape: {pattern!r} matched {n} times")
    return new


def shipped_config(
    *,
    upstream_ports: list[int],
    listen_port: int,
    static_root: Path,
    certificate: tuple[Path, Path] | None = None,
) -> str:
    """``deploy/nginx/kefu.conf`` for this machine (see the module docstring)."""
    text = SHIPPED.read_text()
    servers = list(re.finditer(r"^( *)server 127\.0\.0\.1:\d+( [^;\n]*)?;\n", text, re.M))
    if not servers:
        raise AssertionError("deploy/nginx/kefu.conf changed shape: no upstream server 127.0.0.1:<port>")
    indent, options = servers[0].group(1), servers[0].group(2) or ""
    ours = "".join(f"{indent}server 127.0.0.1:{port}{options};\n" for port in upstream_ports)
    text = text[: servers[0].start()] + ours + text[servers[-1].end() :]
    # The port-80 server only redirects to https.
    text = _sub(r"^server \{\n    listen 80;\n.*?^\}\n", "", text, flags=re.M | re.S)
    if certificate is None:
        text = _sub(r"^    listen 443 ssl http2;$", f"    listen 127.0.0.1:{listen_port};", text)
        text = _sub(r"^    ssl_certificate(_key)? .*\n", "", text, count=2)
    else:
        cert, key = certificate
        text = _sub(r"^    listen 443 ssl http2;$", f"    listen 127.0.0.1:{listen_port} ssl http2;", text)
        text = _sub(r"^    ssl_certificate .*$", f"    ssl_certificate {cert};", text)
        text = _sub(r"^    ssl_certificate_key .*$", f"    ssl_certificate_key {key};", text)
    return _sub(r"^        alias /srv/kefu/var/static/;$", f"        alias {static_root}/;", text)


def main_config(prefix: Path, site: Path) -> str:
    """The ``nginx.conf`` around the site: everything nginx writes stays under ``prefix``."""
    temp = "\n".join(
        f"    {kind}_temp_path {prefix}/{kind}_temp;"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        "worker_processes 1;\n"
        f"pid {prefix}/nginx.pid;\n"
        f"error_log {prefix}/error.log warn;\n"
        "events { worker_connections 512; }\n"
        "http {\n"
        f"    access_log {prefix}/access.log;\n"
        f"{temp}\n"
        f"    include {site};\n"
        "}\n"
    )


def check_config(prefix: Path) -> subprocess.CompletedProcess[str]:
    """``nginx -t`` of ``prefix/nginx.conf``."""
    binary = nginx_binary()
    assert binary is not None
    return subprocess.run(
        [
            binary,
            "-t",
            "-q",
            "-p",
            str(prefix),
            "-e",
            str(prefix / "error.log"),
            "-c",
            str(prefix / "nginx.conf"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )


class Nginx:
    """``with Nginx(upstream_ports=[…]) as proxy:`` — ``proxy.http``, ``proxy.ws``, ``proxy.log()``."""

    def __init__(self, *, upstream_ports: list[int]):
        self.upstream_ports = upstream_ports
        self.prefix = Path(tempfile.mkdtemp(prefix="kefu-nginx-"))
        # Run as root, nginx's workers drop to nobody: they must reach their temp files.
        self.prefix.chmod(0o755)
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def write_config(self, port: int) -> None:
        (self.prefix / "static").mkdir(exist_ok=True)
        site = self.prefix / "kefu.conf"
        site.write_text(
            shipped_config(
                upstream_ports=self.upstream_ports, listen_port=port, static_root=self.prefix / "static"
            )
        )
        (self.prefix / "nginx.conf").write_text(main_config(self.prefix, site))

    def start(self) -> Nginx:
        binary = nginx_binary()
        assert binary is not None
        for _attempt in range(3):  # another engineer's server may take the free port first
            self.port = free_port()
            self.write_config(self.port)
            with open(self.prefix / "stderr.log", "wb") as err:
                self.proc = subprocess.Popen(
                    [binary, "-p", str(self.prefix), "-e", str(self.prefix / "error.log"),
                     "-c", str(self.prefix / "nginx.conf"), "-g", "daemon off;"],
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                    start_new_session=True,  # its workers too can be ended as one group
                )  # fmt: skip
            if self._wait_listening():
                return self
            self.stop_process()
        raise RuntimeError(f"nginx did not start:\n{self.log()}")

    def _wait_listening(self, timeout: float = 10) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                if listens_on(self.proc.pid, self.port):
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def log(self) -> str:
        parts = []
        for name in ("stderr.log", "error.log"):
            path = self.prefix / name
            if path.exists():
                parts.append(f"--- nginx {name}\n{path.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)

    def stop_process(self) -> None:
        # SIGTERM is nginx's fast shutdown: the master ends its workers.
        terminate(self.proc, timeout=5, group=True)

    def __enter__(self) -> Nginx:
        try:
            return self.start()
        except BaseException:
            self.__exit__()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop_process()
        shutil.rmtree(self.prefix, ignore_errors=True)
