"""``kefu generate``: a big team's history in bulk, for benchmarks (kefu.demo.bulk)."""

from __future__ import annotations

import time
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kefu.demo.bulk import Scale, generate


class Command(BaseCommand):
    help = "批量生成一支客服团队的历史数据（会话、消息、工单、投诉、补偿、状态记录），用于性能测试"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--agents", type=int, default=200, help="客服人数（默认 200）")
        parser.add_argument("--days", type=int, default=365, help="天数（默认 365）")
        parser.add_argument("--tickets", type=int, default=None, help="工单数（默认 每人每天 2 张）")
        parser.add_argument(
            "--per-agent-day", type=float, default=5.0, help="每位客服每天的平均会话数（默认 5）"
        )
        parser.add_argument(
            "--end", type=date.fromisoformat, default=None, help="最后一天 YYYY-MM-DD（默认 昨天）"
        )
        parser.add_argument("--seed", type=int, default=2026, help="随机种子：相同参数生成相同数据")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["agents"] < 1 or options["days"] < 1:
            raise CommandError("--agents 和 --days 必须大于 0")
        if options["tickets"] is not None and options["tickets"] < 0:
            raise CommandError("--tickets 不能为负数")
        scale = Scale(
            agents=options["agents"],
            days=options["days"],
            tickets=options["tickets"],
            per_agent_day=options["per_agent_day"],
            end=options["end"],
            seed=options["seed"],
        )
        started = time.monotonic()
        log = self.stdout.write if options["verbosity"] >= 2 else (lambda s: None)
        r = generate(scale, log=log)
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"已生成 {scale.days} 天数据（用时 {elapsed:.1f} 秒）：客服 {r.agents} 位，客户 {r.customers} 位，"
                f"会话 {r.conversations} 个，消息 {r.messages} 条，工单 {r.tickets} 张，投诉 {r.complaints} 起，"
                f"状态记录 {r.status_changes} 条。"
            )
        )
