"""The deployment files in ``deploy/`` (docs/operations.md) agree with what kefu accepts."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from kefu.ops.management.commands.serve import Command as Serve

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


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")
def test_nginx_config_parses(tmp_path: Path) -> None:
    conf = (DEPLOY / "nginx" / "kefu.conf").read_text()
    # No certificate here: the same server on plain HTTP.
    conf = re.sub(r"^\s*ssl_certificate.*$", "", conf, flags=re.M).replace("listen 443 ssl;", "listen 8443;")
    (tmp_path / "kefu.conf").write_text(conf)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  include {tmp_path}/kefu.conf;\n}}\n"
    )
    result = subprocess.run(
        ["nginx", "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
