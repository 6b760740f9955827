from django.apps import AppConfig


class ProactiveConfig(AppConfig):
    name = "kefu.proactive"
    label = "proactive"
    verbose_name = "主动服务"

    def ready(self) -> None:
        # A registration, not an import from below: orders stay unaware of proactive rules.
        from kefu.customers.orders import register_order_listener

        from .services import record_order_change

        register_order_listener(record_order_change)
