from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "kefu.webhooks"
    label = "webhooks"
    verbose_name = "Webhook"

    def ready(self) -> None:
        from kefu.core.events import register_outbox

        from .outbox import enqueue_event

        # Every published event that may reach integrations is written to the outbox
        # in the publisher's transaction (core imports no app, so the app registers).
        register_outbox(enqueue_event)
