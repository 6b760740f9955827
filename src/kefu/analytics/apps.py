from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "kefu.analytics"
    label = "analytics"
    verbose_name = "指标与报表"
