"""``KEFU_LOG_FORMAT=json``: every log line of a kefu process is one JSON object."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

LOG_SOME = """
import logging, django
django.setup()
logging.getLogger("kefu.orders").warning("订单 %s 三天未发货\\n第二行", "E20261203")
try:
    1 / 0
except ZeroDivisionError:
    logging.getLogger("kefu.tasks").exception("任务失败", extra={"task_id": 42})
"""


def _log_lines(fmt: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEFU_", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="kefu.settings",
        KEFU_LOG_FORMAT=fmt,
        PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "src")]),
    )
    result = subprocess.run(
        [sys.executable, "-c", LOG_SOME], env=env, capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert result.returncode == 0, result.stderr
    return result.stderr.splitlines()


def test_json_log_format_writes_one_json_object_per_line() -> None:
    lines = _log_lines("json")
    entries = [json.loads(line) for line in lines]  # every line parses on its own
    assert [(e["level"], e["logger"]) for e in entries] == [
        ("WARNING", "kefu.orders"),
        ("ERROR", "kefu.tasks"),
    ]
    assert entries[0]["message"] == "订单 E20261203 三天未发货\n第二行"
    assert "ZeroDivisionError" in entries[1]["exc"]
    assert entries[1]["task_id"] == 42
    assert entries[0]["time"].endswith("+00:00")


def test_text_log_format_is_the_default() -> None:
    lines = _log_lines("")
    assert lines[0] == "订单 E20261203 三天未发货"
    assert "Traceback" in "\n".join(lines)
