"""``kefu sla install-defaults`` (re-create missing default policies) and ``kefu sla sweep``."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from kefu.sla.services import do_install_default_policies, do_sweep


class Command(BaseCommand):
    help = "SLA policies and timers: install-defaults | sweep"

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("action", choices=["install-defaults", "sweep"])

    def handle(self, *args: Any, **opts: Any) -> None:

        if opts["action"] == "install-defaults":
            created = do_install_default_policies()
            self.stdout.write(f"已安装 {created} 条默认 SLA 策略")
        elif opts["action"] == "sweep":
            result = do_sweep()
            self.stdout.write(
                f"会话预警 {result.conversation_warnings}，会话超时 {result.conversation_breaches}，"
                f"工单预警 {result.ticket_warnings}，工单超时 {result.ticket_breaches}"
            )
        else:  # pragma: no cover - argparse refuses other values
            raise CommandError(opts["action"])
