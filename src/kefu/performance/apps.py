from django.apps import AppConfig


class PerformanceConfig(AppConfig):
    name = "kefu.performance"
    label = "performance"
    verbose_name = "复盘与星级客服"
