"""The weekly review by email: one mail per team and week to the team's leads, Monday morning.

``do_schedule_weekly_reviews`` runs on the worker's timer. From Monday at
``KEFU_REVIEW_EMAIL_TIME`` (desk time) it writes one ``ReviewMailing`` row per team for the
week just ended — the unique (team, week) constraint settles two workers racing — and
queues a database task for each. The task claims its row with a conditional UPDATE
(pending → sending) and records each recipient's state as it goes, so a task run twice,
or a worker restarted, sends each lead the review once. A row whose task was lost (the
process died between commit and enqueue) or whose sender died mid-way is picked up again
by a later tick; nothing depends on one process staying alive.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.tasks import task
from django.template.loader import render_to_string
from django.utils import timezone

from kefu.accounts.models import Role, Team, User

from .models import ReviewMailing
from .periods import Period, week_of
from .review import build_review

log = logging.getLogger(__name__)

# A pending row older than this has lost its task; a row sending for longer, its sender.
STALLED_PENDING = timedelta(minutes=10)
STALLED_SENDING = timedelta(minutes=30)


def send_time() -> time:
    text = getattr(settings, "KEFU_REVIEW_EMAIL_TIME", "09:00")
    hour, _, minute = text.partition(":")
    return time(int(hour), int(minute or 0))


def due_week(now: datetime) -> Period | None:
    """The week whose review is due at ``now``: the last complete one, once Monday's send time has come."""
    local = timezone.localtime(now)
    monday = local.date() - timedelta(days=local.weekday())
    if now < timezone.make_aware(datetime.combine(monday, send_time())):
        return None
    return week_of(monday - timedelta(days=7))


def team_leads(team: Team) -> list[User]:
    """The people the team's review is mailed to: its active team leads with an address."""
    return list(
        User.objects.filter(teams=team, role=Role.TEAM_LEAD, is_active=True).exclude(email="").order_by("id")
    )


def _enqueue(mailing_id: int) -> None:
    try:
        send_weekly_review.enqueue(mailing_id)
    except Exception:  # the next tick finds the row still pending and queues it again
        log.exception("could not enqueue the weekly review mailing %s", mailing_id)


def _requeue_stalled(week: Period, now: datetime) -> None:
    stalled_sending = ReviewMailing.objects.filter(
        week_start=week.first_day, status=ReviewMailing.Status.SENDING, claimed_at__lt=now - STALLED_SENDING
    )
    for pk in list(stalled_sending.values_list("pk", flat=True)):
        if ReviewMailing.objects.filter(pk=pk, status=ReviewMailing.Status.SENDING).update(
            status=ReviewMailing.Status.PENDING, claimed_at=None
        ):
            _enqueue(pk)
    lost = ReviewMailing.objects.filter(
        week_start=week.first_day, status=ReviewMailing.Status.PENDING, created_at__lt=now - STALLED_PENDING
    ).filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - STALLED_PENDING))
    for pk in list(lost.values_list("pk", flat=True)):
        # Stamped so that the row is not queued again on every tick while its task waits.
        if ReviewMailing.objects.filter(pk=pk, status=ReviewMailing.Status.PENDING).update(claimed_at=now):
            _enqueue(pk)


def do_schedule_weekly_reviews(now: datetime | None = None) -> int:
    """Write and queue the due week's mailings that do not exist yet; returns how many were queued."""
    if not getattr(settings, "KEFU_REVIEW_EMAIL", False):
        return 0
    now = now or timezone.now()
    week = due_week(now)
    if week is None:
        return 0
    done = ReviewMailing.objects.filter(week_start=week.first_day).values_list("team_id", flat=True)
    queued = 0
    for team in Team.objects.exclude(pk__in=list(done)).order_by("id"):
        leads = team_leads(team)
        try:
            with transaction.atomic():
                mailing = ReviewMailing.objects.create(
                    team=team,
                    week_start=week.first_day,
                    status=ReviewMailing.Status.PENDING if leads else ReviewMailing.Status.NO_RECIPIENTS,
                    recipients=[{"id": u.pk, "email": u.email, "state": "queued"} for u in leads],
                )
                if leads:
                    transaction.on_commit(partial(_enqueue, mailing.pk))
        except IntegrityError:
            continue  # another worker wrote it first
        queued += bool(leads)
    _requeue_stalled(week, now)
    return queued


def review_link(team_id: int, week: Period, *, printable: bool = False) -> str:
    path = "/desk/review/print/" if printable else "/desk/review/"
    return f"{settings.KEFU_DESK_URL}{path}?team={team_id}&week={week.key}"


def review_email(review: dict[str, Any], week: Period, to: str) -> EmailMultiAlternatives:
    context = {
        "review": review,
        "link": review_link(review["team"]["id"], week),
        "print_link": review_link(review["team"]["id"], week, printable=True),
        "desk_url": settings.KEFU_DESK_URL,
        "email": True,
    }
    subject = f"【周复盘】{review['team']['name']} · {week.label}"
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("performance/review_email.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
    )
    message.attach_alternative(render_to_string("performance/review_print.html", context), "text/html")
    return message


def do_send_weekly_review(mailing_id: int, now: datetime | None = None) -> int:
    """Send one team's review to its leads whose mail is still queued; returns how many were sent."""
    from django.core.mail import mailers

    now = now or timezone.now()
    claimed = ReviewMailing.objects.filter(pk=mailing_id, status=ReviewMailing.Status.PENDING).update(
        status=ReviewMailing.Status.SENDING, claimed_at=now
    )
    if not claimed:
        return 0  # sent already, or another run holds it
    mailing = ReviewMailing.objects.select_related("team").get(pk=mailing_id)
    week = week_of(mailing.week_start)
    review = build_review(mailing.team, week)
    sent = 0
    for recipient in mailing.recipients:
        if recipient.get("state") != "queued":
            continue
        try:
            mailers.default.send_messages([review_email(review, week, recipient["email"])])
            recipient["state"] = "sent"
            sent += 1
        except (OSError, ValueError) as exc:  # smtplib errors are OSErrors
            log.warning("weekly review %s to user %s failed: %s", mailing.pk, recipient["id"], exc)
            recipient["state"] = "failed"
        ReviewMailing.objects.filter(pk=mailing.pk).update(recipients=mailing.recipients)
    delivered = any(r.get("state") == "sent" for r in mailing.recipients)
    ReviewMailing.objects.filter(pk=mailing.pk).update(
        status=ReviewMailing.Status.SENT if delivered else ReviewMailing.Status.FAILED,
        sent_at=timezone.now() if delivered else None,
    )
    return sent


@task()
def send_weekly_review(mailing_id: int) -> int:
    return do_send_weekly_review(mailing_id)
