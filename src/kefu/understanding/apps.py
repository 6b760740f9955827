from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _seed_intents(sender: AppConfig, **kwargs: object) -> None:
    from .services import do_install_default_intents

    do_install_default_intents()


class UnderstandingConfig(AppConfig):
    name = "kefu.understanding"
    label = "understanding"
    verbose_name = "客户理解（情绪与意图）"

    def ready(self) -> None:
        # Configuration seeding: the default intent taxonomy exists on every install.
        post_migrate.connect(_seed_intents, sender=self)
