"""``kefu hours install-holidays`` (add missing official dates) and ``kefu hours status``."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from kefu.hours.calendar import calendar_for
from kefu.hours.services import do_install_official_holidays


class Command(BaseCommand):
    help = "Business hours and holidays: install-holidays | status [--team ID] [--channel ID]"

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("action", choices=["install-holidays", "status"])
        parser.add_argument("--team", type=int, default=None)
        parser.add_argument("--channel", type=int, default=None)

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["action"] == "install-holidays":
            self.stdout.write(f"已补充 {do_install_official_holidays()} 个法定节假日与调休日期")
        elif opts["action"] == "status":
            cal = calendar_for(opts["team"], opts["channel"])
            now = timezone.now()
            if cal.is_open(now):
                closes = cal.closes_at(now)
                state = f"营业中，{timezone.localtime(closes):%m-%d %H:%M} 结束" if closes else "营业中"
            else:
                opens = cal.next_opening(now)
                state = (
                    f"休息中，{timezone.localtime(opens):%m-%d %H:%M} 开始营业"
                    if opens
                    else "休息中（无营业时间）"
                )
            self.stdout.write(f"{state}；{cal.description}")
        else:  # pragma: no cover - argparse refuses other values
            raise CommandError(opts["action"])
