"""Background tasks for outbound webhooks (run by ``kefu worker``)."""

from __future__ import annotations

from django.tasks import task


@task()
def send_pending_webhooks() -> int:
    """Send every due delivery; returns how many succeeded."""
    from .services import do_send_due_deliveries

    return do_send_due_deliveries().succeeded


@task()
def send_webhook_delivery(delivery_id: int) -> str | None:
    """One attempt at one delivery, if it is due."""
    from .services import do_send_delivery

    return do_send_delivery(delivery_id)
