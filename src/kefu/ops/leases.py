"""Tasks cut off mid-run go back to the queue: worker heartbeats and the orphan sweep.

django_tasks_db claims a task by marking it RUNNING under the worker's id and never
looks at it again: when the worker is killed mid-task the row stays RUNNING for ever,
so the task's effect never happens (an escalation email never sent, the ``kefu_tasks``
gauge stuck). Each ``kefu worker`` therefore beats (``do_beat``, from a thread, every
``KEFU_WORKER_LEASE_SECONDS`` / 6), and ``do_requeue_orphaned_tasks`` — at every worker's
start and timer tick — finds RUNNING tasks whose worker has not beaten within the lease
and makes them READY again, with a conditional UPDATE (two workers never both requeue
one). A task claimed ``MAX_CLAIMS`` times without finishing is failed instead, so a task
that kills its worker does not kill every worker after it.

Running a task again is safe because every kefu task is idempotent in effect: each
claims its work with a conditional UPDATE or a state check (a webhook attempt, an
outbound delivery, an email recipient marked ``sent``) and sends what is not yet done;
what reaches the outside twice carries the same idempotency key (``X-Kefu-Delivery``,
the email's ``Message-ID``). docs/reliability.md.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from .models import WorkerHeartbeat

log = logging.getLogger("kefu.worker")

RUNNING = "RUNNING"
READY = "READY"
FAILED = "FAILED"
# Claims of one task that never finished before it is failed rather than run again.
MAX_CLAIMS = 3


def lease() -> timedelta:
    return timedelta(seconds=settings.KEFU_WORKER_LEASE_SECONDS)


def beat_seconds() -> float:
    return max(0.2, settings.KEFU_WORKER_LEASE_SECONDS / 6)


def do_beat(worker_id: str, now: datetime | None = None) -> None:
    """Record that ``worker_id`` is alive (creates its row on the first beat)."""
    now = now or timezone.now()
    updated = WorkerHeartbeat.objects.filter(worker_id=worker_id).update(seen_at=now)
    if not updated:
        WorkerHeartbeat.objects.update_or_create(
            worker_id=worker_id,
            defaults={
                "seen_at": now,
                "started_at": now,
                "hostname": socket.gethostname()[:255],
                "pid": os.getpid(),
            },
        )


def do_retire(worker_id: str) -> None:
    """A worker stopping cleanly: its row goes (nothing of it can be running any more)."""
    WorkerHeartbeat.objects.filter(worker_id=worker_id).delete()


def do_requeue_orphaned_tasks(now: datetime | None = None) -> int:
    """Put RUNNING tasks whose worker stopped beating back in the queue; returns how many.

    A task claimed by a worker that never beat (plain ``db_worker``) gets the lease from
    its start. Old heartbeat rows (ten leases) are removed on the way.
    """
    now = now or timezone.now()
    cutoff = now - lease()
    beats = dict(WorkerHeartbeat.objects.values_list("worker_id", "seen_at"))
    changed = 0
    running = DBTaskResult.objects.filter(status=RUNNING).values_list(
        "pk", "worker_ids", "started_at", "task_path"
    )
    for pk, worker_ids, started_at, task_path in running:
        owner = worker_ids[-1] if worker_ids else None
        seen = beats.get(owner) if owner else None
        if seen is not None and seen >= cutoff:
            continue  # its worker is alive: the task is running
        if seen is None and started_at is not None and started_at >= cutoff:
            continue  # a worker we know nothing of: give it the lease from the start
        claimed = DBTaskResult.objects.filter(pk=pk, status=RUNNING, started_at=started_at)
        if len(worker_ids) >= MAX_CLAIMS:
            done = claimed.update(
                status=FAILED,
                finished_at=now,
                exception_class_path="kefu.ops.leases.WorkerLost",
                traceback=f"the worker running it stopped {len(worker_ids)} times (last: {owner}); not run again",
            )
            if done:
                log.error("task %s (%s) failed: its worker died %d times", pk, task_path, len(worker_ids))
        else:
            done = claimed.update(status=READY, started_at=None)
            if done:
                log.warning("task %s (%s) requeued: its worker %s stopped beating", pk, task_path, owner)
        changed += done
    WorkerHeartbeat.objects.filter(seen_at__lt=now - 10 * lease()).delete()
    return changed
