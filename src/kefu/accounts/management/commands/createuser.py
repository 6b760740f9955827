"""kefu createuser USERNAME --role ROLE [--team NAME] [--password P]"""

from __future__ import annotations

import getpass
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from kefu.accounts.models import Role, Team
from kefu.accounts.services import do_create_user
from kefu.core.errors import KefuError


class Command(BaseCommand):
    help = "Create a desk user with a role (agent, specialist, team_lead, supervisor, manager, admin)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--name", default="", help="display name")
        parser.add_argument(
            "--team", action="append", default=[], help="team name (repeatable; created if new)"
        )
        parser.add_argument("--password", help="password (prompted if omitted)")

    def handle(self, *args: Any, **opts: Any) -> None:
        password = opts["password"] or getpass.getpass("密码: ")
        teams = [Team.objects.get_or_create(name=name)[0] for name in opts["team"]]
        try:
            user = do_create_user(
                username=opts["username"],
                password=password,
                role=opts["role"],
                display_name=opts["name"],
                teams=teams,
            )
        except KefuError as exc:
            detail = "; ".join(f"{k}: {v}" for k, v in exc.fields.items())
            raise CommandError(f"{exc.message} {detail}".strip()) from exc
        self.stdout.write(self.style.SUCCESS(f"created {user.username} ({user.get_role_display()})"))
