from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "kefu.incidents"
    label = "incidents"
    verbose_name = "事件与统一口径"
