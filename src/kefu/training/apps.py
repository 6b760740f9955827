from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "kefu.training"
    label = "training"
    verbose_name = "模拟训练"
