"""``kefu worker``: the one background process.

It runs Django tasks from the database queue (django_tasks_db's own worker loop,
in batch mode, so claiming and result bookkeeping are theirs) and, every few
seconds, the timers: the presence sweep (agents whose desk is gone go offline, and
their conversations back to the queue if the admin's rule says so), the SLA sweep, follow-up reminders, due webhook retries, the
complaints sweep, incident detection (surges proposed, matching conversations tagged), public posts due for a reply (warned, escalated), the surveys sweep (satisfaction surveys and 回访), the metrics' rollups, conversations whose routing failed after their first message was
stored, waiting customers an agent now has room for, stalled outbound deliveries,
proactive messages (order events whose task was lost, approved delay statements and,
every minute, orders whose logistics stalled), (hourly) old inbound nonces and, on Monday morning, the weekly review's mailings.

Nothing depends on this process staying alive: timers are due times in the
database and every warning, breach, reminder and delivery attempt is claimed with a
conditional UPDATE, so a restarted worker — or two of them — neither misses nor
repeats anything. A task cut off mid-run (the worker killed) is put back in the queue
once its worker's heartbeat is older than the lease (``kefu.ops.leases``), and runs
again; the tasks are idempotent in effect. ``--once`` does what is due now and exits (tests, cron).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from argparse import ArgumentParser
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand
from django.db import close_old_connections, connection
from django.utils import timezone
from django.utils.crypto import get_random_string
from django_tasks_db.compat import DEFAULT_TASK_BACKEND_ALIAS, TASKS_LOGGER
from django_tasks_db.management.commands.db_worker import Worker

from kefu.accounts.services import do_return_offline_agents_conversations, do_sweep_presence
from kefu.analytics.rollups import do_refresh_rollups
from kefu.channels.outbound import do_kick_stalled_deliveries
from kefu.channels.services import do_prune_inbound_nonces
from kefu.complaints.services import do_sweep as do_sweep_complaints
from kefu.conversations.services import do_wake_snoozed
from kefu.incidents.services import do_detect_incidents, do_sweep_public_posts
from kefu.performance.mailing import do_schedule_weekly_reviews
from kefu.proactive.services import do_sweep as do_sweep_proactive
from kefu.routing.assignment import do_drain_queues, do_route_unrouted
from kefu.sla.services import do_sweep
from kefu.surveys.services import do_sweep as do_sweep_surveys
from kefu.tickets.services import do_notify_due_follow_ups
from kefu.webhooks.delivery import do_send_due_deliveries

from ...leases import beat_seconds, do_beat, do_requeue_orphaned_tasks, do_retire
from ...warmup import warm_up

log = logging.getLogger("kefu.worker")

# Old inbound nonces are only dead weight, so pruning them hourly is plenty; the
# first tick of each process prunes, so a worker restarted often still does it.
PRUNE_NONCES_EVERY = 3600.0
_nonces_pruned_at: float | None = None
# Finding stalled logistics scans every order on the way: once a minute is enough for
# stalls counted in hours; the cheap parts of the proactive sweep run every tick.
SCAN_STALLS_EVERY = 60.0
_stalls_scanned_at: float | None = None


def _sweep_proactive() -> int:
    global _stalls_scanned_at
    now = time.monotonic()
    scan = _stalls_scanned_at is None or now - _stalls_scanned_at >= SCAN_STALLS_EVERY
    if scan:
        _stalls_scanned_at = now
    return do_sweep_proactive(timezone.now(), scan_stalls=scan)


def _prune_nonces_hourly() -> int:

    global _nonces_pruned_at
    now = time.monotonic()
    if _nonces_pruned_at is not None and now - _nonces_pruned_at < PRUNE_NONCES_EVERY:
        return 0
    _nonces_pruned_at = now
    return do_prune_inbound_nonces()


def run_timers() -> dict[str, int]:
    """One tick of the timers; each part is independent, so one failing does not stop the rest."""

    counts: dict[str, int] = {}
    steps = (
        # Tasks a killed worker left RUNNING go back to the queue first (kefu.ops.leases).
        ("orphaned_tasks", lambda: do_requeue_orphaned_tasks(timezone.now())),
        # Presence first: an agent whose desk is gone is offline before anything is routed.
        ("presence", lambda: do_sweep_presence(timezone.now())),
        ("offline_conversations", lambda: do_return_offline_agents_conversations(timezone.now())),
        ("sla", lambda: do_sweep(timezone.now()).total),
        ("follow_ups", lambda: do_notify_due_follow_ups(timezone.now())),
        ("webhooks", lambda: do_send_due_deliveries(timezone.now()).succeeded),
        ("complaints", lambda: sum(do_sweep_complaints(timezone.now()).values())),
        # Surveys of freshly resolved conversations, and complaints' 回访 put on the leads' lists.
        ("surveys", lambda: sum(do_sweep_surveys(timezone.now()).values())),
        ("snoozed", lambda: do_wake_snoozed(timezone.now())),
        ("unrouted", lambda: do_route_unrouted(timezone.now())),
        # After waking snoozed conversations (they count against their agent's limit
        # again) and routing the unrouted, so the room it offers is what is left.
        ("queues", do_drain_queues),
        ("proactive", _sweep_proactive),
        # After the proactive sweep: the deliveries it queued are kicked by their own tasks.
        ("outbound", do_kick_stalled_deliveries),
        # Surges of the same problem become proposed incidents; new conversations that
        # match an active incident are tagged to it (at most every 30 s, claimed in the database).
        ("incidents", lambda: do_detect_incidents(timezone.now())),
        ("public_posts", lambda: do_sweep_public_posts(timezone.now())),
        ("inbound_nonces", _prune_nonces_hourly),
        # The metrics' rollups catch up with what was written (a bounded amount per tick).
        ("rollups", lambda: do_refresh_rollups(timezone.now(), max_batches=5).conversations),
        # Monday morning: the weekly review mailed to each team's leads, once per team and week.
        ("weekly_review", lambda: do_schedule_weekly_reviews(timezone.now())),
    )
    for name, step in steps:
        try:
            counts[name] = step()
        except Exception:
            log.exception("timer step %s failed", name)
            counts[name] = -1
        finally:
            close_old_connections()
    return counts


class Command(BaseCommand):
    help = "Run background tasks from the database queue and the SLA / reminder / webhook timers."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--once", action="store_true", help="process what is due now, then exit")
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between task queue polls")
        parser.add_argument("--timer-interval", type=float, default=5.0, help="seconds between timer runs")
        parser.add_argument(
            "--queue-name", default="*", help="task queues to process, comma-separated ('*' = all)"
        )
        parser.add_argument("--worker-id", default="", help="unique id of this worker (default: random)")

    def handle(self, *args: Any, **opts: Any) -> None:
        verbosity = opts["verbosity"]
        # The tasks worker logs every batch start; only worth seeing when asked for.
        quiet = logging.INFO if verbosity >= 2 else logging.WARNING
        logging.getLogger("django_tasks_db").setLevel(quiet)
        logging.getLogger(TASKS_LOGGER).setLevel(quiet)
        interval = max(0.1, opts["interval"])
        timer_interval = max(0.5, opts["timer_interval"])
        tasks = Worker(
            queue_names=opts["queue_name"].split(","),
            interval=interval,
            batch=True,
            backend_name=DEFAULT_TASK_BACKEND_ALIAS,
            startup_delay=False,
            max_tasks=None,
            worker_id=(opts["worker_id"] or get_random_string(32))[:64],
            excluded_queue_names=[],
        )
        if opts["once"]:
            counts = run_timers()
            tasks.run()
            # Tasks may have written new deliveries or due rows: one more tick.
            again = run_timers()
            if verbosity:
                self.stdout.write(f"worker --once: {counts} then {again}")
            return

        def stop(signum: int, frame: FrameType | None) -> None:
            if not tasks.running:
                sys.exit(1)
            log.warning("received %s, finishing the current task then stopping", signal.strsignal(signum))
            tasks.running = False

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        # jieba's dictionary and the models load beside the first ticks, not inside the
        # first incident detection or survey that needs them (kefu.ops.warmup).
        threading.Thread(target=warm_up, kwargs={"kb": False}, name="kefu-warmup", daemon=True).start()
        heartbeat = Heartbeat(tasks.worker_id)
        heartbeat.beat()  # alive before the first claim, so no sweep takes its tasks
        heartbeat.start()
        self.stdout.write(f"kefu worker {tasks.worker_id} started (timers every {timer_interval:g}s)")
        next_timers = 0.0
        try:
            # What a killed worker left RUNNING is ready again before the first claim.
            self._requeue_orphans()
            while tasks.running:
                try:
                    tasks.run()  # batch mode: runs every ready task, returns when none is left
                except Exception:
                    log.exception("task loop failed")
                close_old_connections()
                if tasks.running and time.monotonic() >= next_timers:
                    run_timers()
                    next_timers = time.monotonic() + timer_interval
                if tasks.running:
                    time.sleep(interval)
        finally:
            heartbeat.stop()
        self.stdout.write("kefu worker stopped")

    def _requeue_orphans(self) -> None:
        try:
            do_requeue_orphaned_tasks(timezone.now())
        except Exception:  # the timers try again every tick
            log.exception("requeueing orphaned tasks failed")
        finally:
            close_old_connections()


class Heartbeat(threading.Thread):
    """Beats for the worker while it runs, also during a long task (kefu.ops.leases)."""

    def __init__(self, worker_id: str):
        super().__init__(name="kefu-worker-heartbeat", daemon=True)
        self.worker_id = worker_id
        self.stopping = threading.Event()

    def beat(self) -> None:
        try:
            do_beat(self.worker_id)
        except Exception:  # the database is away: the next beat tries again, within the lease
            log.warning("worker heartbeat failed", exc_info=True)
        finally:
            close_old_connections()

    def run(self) -> None:
        while not self.stopping.wait(beat_seconds()):
            self.beat()
        connection.close()

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=10)
        try:
            do_retire(self.worker_id)
        except Exception:  # the row ages out; its tasks are finished or requeued by the lease
            log.warning("could not remove the worker's heartbeat", exc_info=True)
