"""Rollups give the same figures as the live computation: on the hand-built week, after late changes, after a crash."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.utils import timezone

from .conftest import END, START, at
from .test_metrics_api import EXPECTED_WEEK, figures


def later() -> Any:
    return timezone.now() + timedelta(hours=1)  # every row has settled


def everything(scope: Any) -> dict[str, Any]:
    """Every figure, several breakdowns, the heat map and the drill-downs of the rolled-up metrics."""
    from kefu.analytics import metrics

    out: dict[str, Any] = {"compute": metrics.compute(scope)}
    for name in ("first_response_p90", "first_response_within_target", "response_time_mean", "response_time_p90",
                 "fcr_rate", "reopen_rate", "transfer_rate", "emotion_recovery_rate"):  # fmt: skip
        for by in ("channel", "team", "agent", "hour", "weekday", "day"):
            out[f"{name}/{by}"] = metrics.breakdown(scope, name, by)
    out["heatmap"] = metrics.heatmap(scope, "response_time_mean")
    for name in ("fcr_rate", "reopen_rate", "transfer_rate", "emotion_recovery_rate", "first_response_p50"):
        out[f"behind/{name}"] = metrics.behind(scope, name)
    return out


def rolled_counts() -> tuple[int, int]:
    from kefu.analytics.models import ConversationRollup, ReplyRollup

    return ConversationRollup.objects.count(), ReplyRollup.objects.count()


def test_the_week_is_identical_from_rollups_and_live(week: Any):
    from kefu.analytics import metrics
    from kefu.analytics.rollups import do_refresh_rollups
    from kefu.conversations.models import Conversation

    scope = metrics.Scope(START, END)
    live = everything(scope)
    progress = do_refresh_rollups(later())
    assert (
        progress.done
        and progress.conversations == Conversation.objects.filter(messages__isnull=False).distinct().count()
    )
    assert rolled_counts()[0] == progress.conversations and rolled_counts()[1] == progress.replies > 0
    assert everything(scope) == live
    got = figures(week.boss)  # and through the API
    for name, (value, count) in EXPECTED_WEEK.items():
        assert (got[name]["value"], got[name]["count"]) == (value, count), name
    # Filtered scopes read the same rollups.
    for kw in (
        {"team_id": week.c[0].team_id},
        {"agent_id": week.c[0].assignee_id},
        {"channel_id": week.c[0].channel_id},
    ):
        s = metrics.Scope(START, END, **kw)
        assert metrics.compute(s) == metrics.compute(s)  # warm
    assert do_refresh_rollups(later()).conversations == 0  # nothing new: nothing recomputed


def _late_changes(week: Any, h: Any) -> None:
    """A resolved conversation reopened days later, a CSAT answered days later, a transfer after the fact."""
    from kefu.conversations.models import Conversation

    resolved = Conversation.objects.filter(status__in=("resolved", "closed"), created_at__gte=START).order_by(
        "pk"
    )
    first, second = resolved[0], resolved[1]
    h.customer_says(first, at(8, 9), "東西還是壞的，怎麼辦？")  # Traditional Chinese, a reopening
    Conversation.objects.filter(pk=first.pk).update(status="open")
    h.message(second, "activity", at(8, 10), kind="event", is_private=True, meta={"csat_score": 1})
    Conversation.objects.filter(pk=second.pk).update(csat_score=1, csat_at=at(8, 10))
    h.message(second, "activity", at(8, 11), kind="event", is_private=True,
              meta={"from_team": second.team_id, "to_team": week.c[0].team_id})  # fmt: skip


def test_late_changes_are_live_until_the_worker_reads_them_and_rolled_after(week: Any):
    from kefu.analytics import metrics
    from kefu.analytics.models import ConversationRollup, ReplyRollup
    from kefu.analytics.rollups import do_refresh_rollups

    from .conftest import History

    scope = metrics.Scope(START, END)
    do_refresh_rollups(later())
    before = metrics.compute(scope)
    _late_changes(week, History())
    stale = everything(scope)  # the worker has not run: the touched conversations are computed live
    assert stale["compute"]["reopen_rate"].value != before["reopen_rate"].value
    assert stale["compute"]["transfer_rate"].value != before["transfer_rate"].value
    assert stale["compute"]["csat_mean"].value != before["csat_mean"].value
    progress = do_refresh_rollups(later())
    assert progress.conversations == 2
    assert everything(scope) == stale
    ConversationRollup.objects.all().delete()
    ReplyRollup.objects.all().delete()
    assert everything(scope) == stale  # and the plain live computation agrees


def test_replies_of_conversations_without_a_rollup_are_read_live_however_many(week: Any, monkeypatch: Any):
    """Rollups deleted behind the worker's back: their replies' waits are computed live, whether
    the conversations go to the tail's query as a list of ids or (a long list) as a subquery."""
    from kefu.analytics import metrics
    from kefu.analytics.models import ConversationRollup, ReplyRollup
    from kefu.analytics.rollups import do_refresh_rollups

    scope = metrics.Scope(START, END)
    live = everything(scope)
    do_refresh_rollups(later())
    assert everything(scope) == live
    ConversationRollup.objects.filter(pk__in=[c.pk for c in week.c[::2]]).delete()
    ReplyRollup.objects.filter(conversation__in=week.c[::2]).delete()
    with metrics.shared(window=(START, END)):
        unrolled, _query = metrics._unrolled_reply_conversations(scope)
    assert unrolled, "the week's deleted rollups include conversations with agent replies"
    assert everything(scope) == live
    monkeypatch.setattr(metrics, "_ID_LIST_LIMIT", 0)
    assert everything(scope) == live


def test_a_worker_that_dies_mid_batch_loses_nothing(week: Any):
    from kefu.analytics import metrics, rollups
    from kefu.analytics.models import ConversationRollup, RollupState

    scope = metrics.Scope(START, END)
    live = everything(scope)
    with mock.patch.object(rollups, "_recompute", side_effect=RuntimeError("killed")):
        with pytest.raises(RuntimeError):
            rollups.do_refresh_rollups(later(), batch=5)
    assert ConversationRollup.objects.count() == 0
    assert RollupState.objects.filter(message_mark__gt=0).count() == 0
    progress = rollups.do_refresh_rollups(later(), batch=5)  # small batches: many transactions
    assert progress.batches > 1 and progress.done
    assert everything(scope) == live
    assert rollups.do_rebuild_rollups().conversations == progress.conversations - _revisited(progress)
    assert everything(scope) == live


def _revisited(progress: Any) -> int:
    # With small batches a conversation whose messages span two batches is recomputed twice.
    from kefu.analytics.models import ConversationRollup

    return progress.conversations - ConversationRollup.objects.count()


def test_rows_younger_than_the_settle_time_wait_for_the_next_run(week: Any):
    from kefu.analytics import metrics
    from kefu.analytics.rollups import do_refresh_rollups

    from .conftest import History

    scope = metrics.Scope(START, END)
    do_refresh_rollups(later())
    c = week.c[0]
    m = History().customer_says(c, at(8, 12), "还在吗？")
    type(m).objects.filter(pk=m.pk).update(created_at=timezone.now())  # just written
    assert do_refresh_rollups(timezone.now()).conversations == 0
    figs = metrics.compute(scope)
    assert do_refresh_rollups(later()).conversations == 1
    assert metrics.compute(scope) == figs


def test_the_worker_tick_keeps_rollups_and_the_command_reports(week: Any, capsys: Any):
    from django.core.management import call_command

    from kefu.analytics.rollups import rollup_status
    from kefu.ops.management.commands import worker

    # The tick closes connections between steps; inside the test's transaction it must not.
    with (
        mock.patch("kefu.analytics.rollups.SETTLE", timedelta(0)),
        mock.patch.object(worker, "close_old_connections"),
    ):
        counts = worker.run_timers()
    assert counts["rollups"] > 0
    assert rollup_status()["messages_behind"] == 0
    call_command("rollups", "status")
    assert "messages_behind: 0" in capsys.readouterr().out
    call_command("rollups", "rebuild")
    assert "已重算会话" in capsys.readouterr().out


def test_reply_rollups_carry_the_reply_time_and_author(week: Any):
    from kefu.analytics.models import ReplyRollup
    from kefu.analytics.rollups import do_refresh_rollups
    from kefu.conversations.models import Message

    do_refresh_rollups(later())
    rows = list(ReplyRollup.objects.values_list("message_id", "created_at", "sender_id"))
    assert rows
    messages = {
        pk: (created, sender)
        for pk, created, sender in Message.objects.values_list("pk", "created_at", "sender_id")
    }
    for pk, created, sender in rows:
        assert (created, sender) == messages[pk]
        assert sender is not None


def test_filtered_response_times_are_identical_from_reply_rollups_and_live(week: Any):
    from kefu.analytics import metrics
    from kefu.analytics.rollups import do_refresh_rollups

    names = ["response_time_mean", "response_time_p90"]
    scopes = [
        metrics.Scope(START, END),
        metrics.Scope(START, END, team_id=week.c[0].team_id),
        metrics.Scope(START, END, agent_id=week.c[0].assignee_id),
        metrics.Scope(START, END, channel_id=week.c[0].channel_id),
        metrics.Scope(START, END, intent=week.c[0].intent),
    ]

    def read() -> list[Any]:
        out: list[Any] = []
        for s in scopes:
            out.append(metrics.compute(s, names))
            out.append(metrics.distribution(s, "response_time"))
            for by in ("agent", "team", "channel", "intent", "hour", "halfhour"):
                out.append(metrics.breakdowns(s, names, by))
        return out

    live = read()
    assert live[0]["response_time_mean"].count > 0
    do_refresh_rollups(later())
    assert read() == live


def test_a_late_reply_is_live_until_the_worker_reads_it(week: Any):
    from kefu.analytics import metrics
    from kefu.analytics.models import ReplyRollup
    from kefu.analytics.rollups import do_refresh_rollups

    from .conftest import History

    h = History()
    scope = metrics.Scope(START, END)
    do_refresh_rollups(later())
    before = everything(scope)
    c = week.c[0]
    h.customer_says(c, at(6, 11), "请问退款什么时候到账？")
    reply = h.agent_says(c, at(6, 11, 5), c.assignee, "已经提交了，预计三个工作日内到账")
    stale = everything(scope)
    assert stale["compute"]["response_time_mean"] != before["compute"]["response_time_mean"]
    assert not ReplyRollup.objects.filter(message_id=reply.pk).exists()
    assert do_refresh_rollups(later()).conversations == 1
    assert ReplyRollup.objects.get(message_id=reply.pk).seconds == 300.0
    assert everything(scope) == stale


def test_the_migration_copies_time_and_author_into_older_reply_rollups(week: Any):
    import importlib

    from django.apps import apps

    from kefu.analytics import metrics
    from kefu.analytics.models import ReplyRollup
    from kefu.analytics.rollups import do_refresh_rollups

    do_refresh_rollups(later())
    scope = metrics.Scope(START, END)
    rolled = everything(scope)
    kept = list(ReplyRollup.objects.order_by("pk").values_list("pk", "created_at", "sender_id"))
    ReplyRollup.objects.update(created_at=None, sender=None)  # as rolled up before the columns
    migration = importlib.import_module("kefu.analytics.migrations.0003_reply_rollup_time")
    migration.copy_from_messages(apps, None)
    assert list(ReplyRollup.objects.order_by("pk").values_list("pk", "created_at", "sender_id")) == kept
    assert everything(scope) == rolled


# --- FCR's repeat contact, decided by the worker once the window after the resolution has passed ---


def live_everything(scope: Any) -> dict[str, Any]:
    """``everything`` with no rollup at all (the plain live computation), leaving the rollups as they are."""
    from django.db import transaction

    from kefu.analytics.models import ConversationRollup, ReplyRollup

    with transaction.atomic():
        ConversationRollup.objects.all().delete()
        ReplyRollup.objects.all().delete()
        out = everything(scope)
        transaction.set_rollback(True)
    return out


def repeats() -> dict[int, bool | None]:
    from kefu.analytics.models import ConversationRollup

    return dict(ConversationRollup.objects.values_list("conversation_id", "repeat_contact"))


def test_repeat_contacts_are_decided_once_their_window_has_passed(week: Any):
    from kefu.analytics import metrics
    from kefu.analytics.rollups import SETTLE, do_refresh_rollups

    scope = metrics.Scope(START, END)
    live = live_everything(scope)
    c1, c2, c3, c4, c5, _c6, c7, _c8 = week.c
    # Tuesday 10 November, noon: the windows of Monday's and Tuesday's resolutions (seven days)
    # have passed, those of Wednesday's and Thursday's have not.
    do_refresh_rollups(at(10, 12) + SETTLE)
    got = repeats()
    assert (got[c1.pk], got[c2.pk], got[c3.pk]) == (False, False, False)
    assert (got[c4.pk], got[c5.pk], got[c7.pk]) == (None, None, None)
    assert everything(scope) == live
    do_refresh_rollups(later())  # the windows that passed since: decided by the worker's next run
    got = repeats()
    # C4's customer wrote again on Sunday; C5's came back on Friday through her merged profile.
    assert (got[c4.pk], got[c5.pk], got[c7.pk]) == (True, True, None)
    assert everything(scope) == live
    assert live["compute"]["fcr_rate"].count == 6


def test_the_figure_reads_the_decided_repeat_contact(week: Any):
    from kefu.analytics import metrics
    from kefu.analytics.models import ConversationRollup
    from kefu.analytics.rollups import do_refresh_rollups

    scope = metrics.Scope(START, END)
    do_refresh_rollups(later())
    fcr = metrics.compute(scope, ["fcr_rate"])["fcr_rate"]
    # Were the decision not read, marking the first-contact resolution C1 as a repeat contact
    # would change nothing.
    ConversationRollup.objects.filter(conversation=week.c[0]).update(repeat_contact=True)
    assert metrics.compute(scope, ["fcr_rate"])["fcr_rate"].value < fcr.value


def test_a_merge_after_the_decision_is_live_until_the_worker_decides_again(week: Any):
    from kefu.analytics import metrics
    from kefu.analytics.rollups import SETTLE, do_refresh_rollups
    from kefu.customers.models import Customer
    from kefu.customers.services import do_merge_customers

    scope = metrics.Scope(START, END)
    Customer.objects.update(updated_at=at(1, 9))  # profiles last edited before the week
    do_refresh_rollups(timezone.now())
    c1, c8 = week.c[0], week.c[7]
    assert repeats()[c1.pk] is False
    before = everything(scope)
    # 张伟 (C1, resolved on Monday at first contact) turns out to be 赵敏, who wrote on Sunday:
    # a repeat contact.
    do_merge_customers(actor=week.admin, source=c1.customer, target=c8.customer)
    merged = everything(scope)
    assert merged["compute"]["fcr_rate"].value < before["compute"]["fcr_rate"].value
    assert merged == live_everything(scope)
    # The merge wrote no message: the worker finds the edited profiles and decides their
    # conversations again.
    do_refresh_rollups(timezone.now() + SETTLE + timedelta(seconds=1))
    assert repeats()[c1.pk] is True
    assert everything(scope) == merged


def test_an_answered_notice_is_a_repeat_contact_live_and_after_the_worker(week: Any):
    from kefu.analytics import metrics
    from kefu.analytics.rollups import do_refresh_rollups
    from kefu.conversations.models import Conversation

    from .conftest import History

    h = History()
    scope = metrics.Scope(START, END)
    c1 = week.c[0]
    # Thursday: a notice to C1's customer (resolved Monday), who does not answer it.
    notice = h.conversation(channel=week.web, team=week.after_sales, customer=c1.customer, created=at(5, 9))
    h.message(notice, "outgoing", at(5, 9), kind="auto", text="您的退款已到账", meta={"proactive": 1})
    do_refresh_rollups(later())
    assert repeats()[c1.pk] is False
    before = everything(scope)
    # Weeks later the customer answers the notice: it becomes a contact within C1's window.
    h.customer_says(notice, timezone.now() - timedelta(minutes=30), "还有一个问题")
    Conversation.objects.filter(pk=notice.pk).update(last_customer_message_at=timezone.now())
    answered = everything(scope)
    assert answered["compute"]["fcr_rate"].value < before["compute"]["fcr_rate"].value
    assert answered == live_everything(scope)
    do_refresh_rollups(later())
    assert repeats()[c1.pk] is True  # decided again with the notice's conversation
    assert everything(scope) == answered


def test_repeat_contacts_rolled_up_before_the_migration_are_decided_by_the_next_run(week: Any):
    from kefu.analytics import metrics
    from kefu.analytics.models import ConversationRollup, RollupState
    from kefu.analytics.rollups import do_rebuild_rollups, do_refresh_rollups

    scope = metrics.Scope(START, END)
    do_refresh_rollups(later())
    decided = repeats()
    rolled = everything(scope)
    # As after the migration that added them: undecided, and no run has decided any yet.
    ConversationRollup.objects.update(repeat_contact=None, repeat_decided_at=None)
    RollupState.objects.update(repeat_mark=None, customer_mark=None)
    assert everything(scope) == rolled  # read live meanwhile
    assert do_refresh_rollups(later()).repeats == sum(v is not None for v in decided.values()) > 0
    assert repeats() == decided
    assert everything(scope) == rolled
    do_rebuild_rollups()  # `kefu rollups rebuild` decides them again from the beginning
    assert repeats() == decided and RollupState.objects.get().repeat_mark is not None
