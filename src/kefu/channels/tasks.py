"""Worker tasks of the channels app: each parses its arguments and calls one service."""

from __future__ import annotations

from django.tasks import task

from . import services


@task()
def send_outbound(delivery_id: int) -> str | None:
    """One attempt at delivering an agent reply; a failure schedules the next one."""
    delivery = services.do_deliver_outbound(delivery_id)
    return delivery.status if delivery is not None else None


@task()
def kick_stalled_outbound() -> int:
    """Re-enqueue deliveries left pending (a lost task, a worker killed mid-send)."""
    return services.do_kick_stalled_deliveries()


@task()
def prune_inbound_nonces() -> int:
    """Forget webhook delivery ids older than the signature's time window."""
    return services.do_prune_inbound_nonces()
