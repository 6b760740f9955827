from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "kefu.ops"
    label = "ops"
    verbose_name = "运行"
