"""``kefu rollups``: bring the metrics' rollups up to date, rebuild them, or show how far they are."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from kefu.analytics.rollups import do_rebuild_rollups, do_refresh_rollups, rebuild_rollups, rollup_status


class Command(BaseCommand):
    help = "指标预汇总：refresh 追上新数据，rebuild 全部重算（修改营业时间后），status 查看进度"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=("refresh", "rebuild", "status"), nargs="?", default="status")
        parser.add_argument(
            "--background", action="store_true", help="rebuild：交给后台 worker 执行（kefu worker）"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "status":
            for key, value in rollup_status().items():
                self.stdout.write(f"{key}: {value}")
            return
        if action == "rebuild" and options["background"]:
            result = rebuild_rollups.enqueue()
            self.stdout.write(f"已排入后台任务 {result.id}，由 kefu worker 执行。")
            return
        started = time.monotonic()
        progress = do_rebuild_rollups() if action == "rebuild" else do_refresh_rollups()
        self.stdout.write(
            self.style.SUCCESS(
                f"已重算会话 {progress.conversations} 个、回复 {progress.replies} 条，"
                f"判定重复来访 {progress.repeats} 个"
                f"（{progress.batches} 批，用时 {time.monotonic() - started:.1f} 秒）。"
            )
        )
