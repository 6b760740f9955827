"""Background work for text understanding."""

from django.tasks import task


@task()
def retrain_intents() -> str:
    from .services import do_retrain_intents

    return str(do_retrain_intents())
