from django.apps import AppConfig


class WallboardConfig(AppConfig):
    name = "kefu.wallboard"
    label = "wallboard"
    verbose_name = "主管看板"
