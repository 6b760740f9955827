"""The deployment files in ``deploy/`` (docs/operations.md) agree with what kefu accepts."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from kefu.ops.management.commands.serve import Command as Serve
from tests.realtime.proxy import check_config, main_config, nginx_binary, shipped_config

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _exec_start(unit: str) -> list[str]:
    text = (DEPLOY / "systemd" / unit).read_text()
    line = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    return shlex.split(line.removeprefix("ExecStart="))


def test_web_unit_runs_kefu_serve_with_options_it_accepts_on_the_instance_port() -> None:
    argv = _exec_start("kefu-web@.service")
    assert argv[1] == "serve"
    # systemd puts the instance name (kefu-web@8001 → 8001) where %i stands.
    opts = Serve().create_parser("kefu", "serve").parse_args([a.replace("%i", "8001") for a in argv[2:]])
    assert opts.port == 8001
    assert opts.no_smtp and opts.workers == 1  # one drainable process per port; SMTP runs once


def test_nginx_config_upgrades_websockets_without_sticky_sessions() -> None:
    conf = (DEPLOY / "nginx" / "kefu.conf").read_text()
    upstream = re.search(r"upstream kefu_web \{(.*?)\}", conf, re.S)
    assert upstream is not None
    assert not re.search(r"^\s*(ip_hash|hash|sticky)\b", upstream.group(1), re.M)
    ws = re.search(r"location /ws/ \{(.*?)\n    \}", conf, re.S)
    assert ws is not None
    block = ws.group(1)
    assert "proxy_set_header Upgrade $http_upgrade;" in block
    assert "proxy_set_header Connection $kefu_connection;" in block
    timeout = re.search(r"proxy_read_timeout (\d+)([smh]);", block)
    assert timeout is not None
    seconds = int(timeout.group(1)) * {"s": 1, "m": 60, "h": 3600}[timeout.group(2)]
    assert seconds >= 600  # idle desk and chat sockets stay open
    assert re.search(r"location /static/ \{\s*alias ", conf)


@pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed (make system-deps installs it)")
def test_nginx_config_parses_with_tls(tmp_path: Path) -> None:
    """The shipped file as nginx reads it, TLS and http2 included (only ports and paths changed).

    tests/realtime/test_behind_nginx.py runs it in front of two processes.
    """
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (for a throwaway certificate)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=kefu.example.com",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    site = tmp_path / "kefu.conf"
    site.write_text(
        shipped_config(
            upstream_ports=[8001, 8002], listen_port=8443, static_root=tmp_path, certificate=(cert, key)
        )
    )
    (tmp_path / "nginx.conf").write_text(main_config(tmp_path, site))
    result = check_config(tmp_path)
    assert result.returncode == 0, result.stderr
