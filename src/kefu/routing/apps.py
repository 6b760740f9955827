from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "kefu.routing"
    label = "routing"
    verbose_name = "路由与队列"
