"""Background work for reply quality (run by ``kefu worker``)."""

from __future__ import annotations

from django.tasks import task


@task()
def score_conversation_task(conversation_id: int) -> int | None:
    """Score a finished conversation on the rubric; returns the total (None if not scorable)."""
    from .services import do_score_conversation

    score = do_score_conversation(conversation_id)
    return score.total if score else None
