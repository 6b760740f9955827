"""Background tasks for SLA timers. ``kefu worker`` also runs the sweep on its own
timer; this task lets anything else ask for a sweep now."""

from __future__ import annotations

from django.tasks import task


@task()
def sweep_sla() -> int:
    """Record due SLA warnings and breaches; returns how many were recorded."""
    from .services import do_sweep

    return do_sweep().total
