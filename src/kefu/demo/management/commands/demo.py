"""``kefu demo``: load the demo shop 「悦家生活旗舰店」 (idempotent; ``--reset`` rebuilds)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from kefu.accounts.models import Role
from kefu.demo.build import demo_exists, install_demo, remove_demo
from kefu.demo.shop import SHOP_NAME


class Command(BaseCommand):
    help = f"载入演示数据「{SHOP_NAME}」：团队、各角色账号、渠道、路由规则、客户、订单与会话"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--reset", action="store_true", help="先删除已有的演示数据再重新创建")
        parser.add_argument("--seed", type=int, default=2026, help="随机种子（决定客户与订单内容）")

    def handle(self, *args: Any, **options: Any) -> None:
        if demo_exists():
            if not options["reset"]:
                self.stdout.write(
                    self.style.WARNING("演示数据已存在，未做任何修改。如需重建，请使用 kefu demo --reset。")
                )
                return
            removed = remove_demo()
            self.stdout.write(
                f"已删除旧的演示数据：客户 {removed['customers']} 位、会话 {removed['conversations']} 个、"
                f"工单 {removed['tickets']} 个、账号 {removed['users']} 个。"
            )
        started = time.monotonic()
        result = install_demo(seed=options["seed"])
        elapsed = time.monotonic() - started
        self.stdout.write(self.style.SUCCESS(f"已创建演示店铺「{SHOP_NAME}」（用时 {elapsed:.1f} 秒）"))
        self.stdout.write(
            f"客户 {result.customers} 位，订单 {result.orders} 个，会话 {result.conversations} 个，工单 {result.tickets} 个。"
        )
        self.stdout.write("")
        self.stdout.write("演示账号：")
        roles = dict(Role.choices)
        for user in result.users:
            teams = "、".join(t.name for t in user.teams.all()) or "—"
            self.stdout.write(
                f"  {user.username:<12} {user.display_name}（工号 {user.employee_no}）  {roles[user.role]}  {teams}"
            )
        self.stdout.write("")
        self.stdout.write(
            self.style.WARNING(f"所有演示账号的密码（只显示这一次，请妥善保存）：{result.password}")
        )
