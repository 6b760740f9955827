from django.apps import AppConfig


class RepliesConfig(AppConfig):
    name = "kefu.replies"
    label = "replies"
    verbose_name = "话术库"
