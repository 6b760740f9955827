"""What the operations app stores: which ``kefu worker`` processes are alive."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class WorkerHeartbeat(models.Model):
    """A running ``kefu worker``: a thread of it writes ``seen_at`` every few seconds.

    A task the database queue shows RUNNING under a worker whose heartbeat stopped was
    cut off mid-run (``kill -9``, a crash, the machine gone): ``kefu.ops.leases`` puts it
    back in the queue.
    """

    worker_id = models.CharField(max_length=64, primary_key=True)
    hostname = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(null=True)
    started_at = models.DateTimeField(default=timezone.now)
    seen_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "后台进程心跳"
        verbose_name_plural = "后台进程心跳"

    def __str__(self) -> str:
        return f"{self.worker_id} ({self.hostname}:{self.pid})"
