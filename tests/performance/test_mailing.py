"""The weekly review mailed to each team's leads on Monday morning, once per team and week."""

from __future__ import annotations

from datetime import datetime
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command

from .conftest import WEEK, aware

pytestmark = pytest.mark.django_db

LOCMEM = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
# Monday 16 November 2026, desk time: the review of 2026-W46 is due from 09:00.
BEFORE = aware(datetime(2026, 11, 16, 8, 59))
AFTER = aware(datetime(2026, 11, 16, 9, 30))


@pytest.fixture
def mailing_on(settings):
    settings.KEFU_REVIEW_EMAIL = True
    settings.KEFU_REVIEW_EMAIL_TIME = "09:00"
    settings.KEFU_DESK_URL = "https://kefu.shop.example"
    settings.MAILERS = LOCMEM


def test_nothing_is_sent_before_monday_morning_or_when_switched_off(floor, mailing_on, settings):
    from kefu.performance.mailing import do_schedule_weekly_reviews
    from kefu.performance.models import ReviewMailing

    assert do_schedule_weekly_reviews(BEFORE) == 0
    settings.KEFU_REVIEW_EMAIL = False
    assert do_schedule_weekly_reviews(AFTER) == 0
    assert not ReviewMailing.objects.exists()


def test_one_email_per_team_and_week_to_the_leads_only(floor, mailing_on, django_capture_on_commit_callbacks):
    from django_tasks_db.models import DBTaskResult

    from kefu.performance.mailing import do_schedule_weekly_reviews, do_send_weekly_review
    from kefu.performance.models import ReviewMailing

    with django_capture_on_commit_callbacks(execute=True):
        assert do_schedule_weekly_reviews(AFTER) == 2  # 售后服务 and 售前咨询
        assert do_schedule_weekly_reviews(AFTER) == 0  # the timer ticks again: nothing new
    mailings = {m.team_id: m for m in ReviewMailing.objects.all()}
    assert set(mailings) == {floor.team.pk, floor.other_team.pk}
    ours = mailings[floor.team.pk]
    assert str(ours.week_start) == "2026-11-09"
    # 钱组长 has no address; agents and the supervisor are not the team's leads.
    assert [r["email"] for r in ours.recipients] == ["lizuzhang@shop.example"]
    assert DBTaskResult.objects.filter(args_kwargs__args=[ours.pk]).exists()

    assert do_send_weekly_review(ours.pk) == 1
    assert do_send_weekly_review(ours.pk) == 0  # the task run twice sends nothing more
    (sent,) = mail.outbox
    assert sent.to == ["lizuzhang@shop.example"]
    assert sent.subject == "【周复盘】售后服务 · 2026年第46周（11月9日–11月15日）"
    assert f"https://kefu.shop.example/desk/review/?team={floor.team.pk}&week={WEEK}" in sent.body
    html, kind = sent.alternatives[0]
    assert kind == "text/html" and "做得好的 5 个会话" in html
    assert f'href="https://kefu.shop.example/desk/c/{floor.this_week[0].pk}/"' in html
    ours.refresh_from_db()
    assert ours.status == "sent" and ours.recipients[0]["state"] == "sent"


def test_the_worker_sends_each_team_its_review_once(
    floor, mailing_on, monkeypatch, django_capture_on_commit_callbacks
):
    """Through ``kefu worker --once`` twice: the database task runs and nobody gets a second mail."""
    from django.utils import timezone

    monkeypatch.setattr(timezone, "now", lambda: AFTER)
    # The worker drops stale connections between steps; inside the test's transaction there are none.
    for module in ("kefu.ops.management.commands.worker", "django_tasks_db.management.commands.db_worker"):
        monkeypatch.setattr(f"{module}.close_old_connections", lambda: None)
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            call_command("worker", "--once", stdout=StringIO())
    assert sorted(m.to[0] for m in mail.outbox) == ["lizuzhang@shop.example", "zhaozuzhang@shop.example"]
    other = next(m for m in mail.outbox if m.to == ["zhaozuzhang@shop.example"])
    assert "售前咨询" in other.subject


def test_a_team_without_a_lead_with_an_address_is_recorded_not_retried(floor, mailing_on):
    from kefu.accounts.models import User
    from kefu.performance.mailing import do_schedule_weekly_reviews
    from kefu.performance.models import ReviewMailing

    User.objects.filter(pk=floor.other_lead.pk).update(email="")
    assert do_schedule_weekly_reviews(AFTER) == 1
    assert ReviewMailing.objects.get(team=floor.other_team).status == "no_recipients"
    assert do_schedule_weekly_reviews(AFTER) == 0


def test_a_failed_relay_is_recorded_per_recipient(floor, mailing_on, monkeypatch):
    from kefu.performance.mailing import do_schedule_weekly_reviews, do_send_weekly_review
    from kefu.performance.models import ReviewMailing

    do_schedule_weekly_reviews(AFTER)
    ours = ReviewMailing.objects.get(team=floor.team)

    def refuse(self, messages):
        raise ConnectionRefusedError("relay down")

    monkeypatch.setattr("django.core.mail.backends.locmem.EmailBackend.send_messages", refuse)
    assert do_send_weekly_review(ours.pk) == 0
    ours.refresh_from_db()
    assert ours.status == "failed" and ours.recipients[0]["state"] == "failed"
