from django.apps import AppConfig


class HoursConfig(AppConfig):
    name = "kefu.hours"
    label = "hours"
    verbose_name = "营业时间与节假日"
