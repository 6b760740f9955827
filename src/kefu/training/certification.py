"""Training, ground floor: whether routing may give live chats to an agent.

When an admin requires it (``TrainingSettings.require_certification``), an agent
(普通客服) without a training certification is no candidate for new live chats; the
more senior roles are not held to it. Routing asks here (``routable``), so the rule is
in one place and costs one query of a one-row table.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from kefu.accounts.models import Role, User

from .models import TrainingSettings


def certification_required() -> bool:
    return TrainingSettings.objects.filter(pk=1, require_certification=True).exists()


def routable(agents: QuerySet[User]) -> QuerySet[User]:
    """``agents`` less the uncertified agents, when certification is required."""
    if not certification_required():
        return agents
    return agents.filter(~Q(role=Role.AGENT) | Q(training_certification__isnull=False))
