from django.apps import AppConfig


class BotConfig(AppConfig):
    name = "kefu.bot"
    label = "bot"
    verbose_name = "智能客服"
