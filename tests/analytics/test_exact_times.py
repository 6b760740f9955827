"""Times read as whole microseconds (``metrics.EpochMicroseconds``) give the very figures that
datetime arithmetic gives, to the last bit: online time, occupancy, AHT and the complaint
handling time of a day whose timestamps carry fractions of a second, through the metrics
module and /api/v1/metrics, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client

from .conftest import History, at

pytestmark = pytest.mark.django_db


def us(moment: datetime, micro: int) -> datetime:
    return moment + timedelta(microseconds=micro)


@pytest.fixture
def day(make_team: Any, make_user: Any, make_channel: Any) -> Any:
    """Mon 2 Nov 2026: 王芳 on the desk 09:00:00.250000–17:00:00.750000, one chat she handled
    from 10:00:07.123457 to 10:20:39.654321, and one complaint settled in 2 h and a fraction."""
    from kefu.accounts.models import Role, StatusChange
    from kefu.complaints.models import Complaint
    from kefu.conversations.models import Conversation
    from kefu.customers.models import Customer
    from kefu.tickets.models import Ticket

    team = make_team("售后服务")
    wang = make_user("wangfang", display_name="王芳", teams=(team,))
    boss = make_user("sunboss", display_name="孙主管", role=Role.SUPERVISOR)
    web = make_channel("web", team=team, name="官网在线客服")
    customer = Customer.objects.create(name="周敏")
    on, off = us(at(2, 9), 250_000), us(at(2, 17), 750_000)
    StatusChange.objects.create(user=wang, from_status="offline", to_status="online", at=on)
    StatusChange.objects.create(user=wang, from_status="online", to_status="offline", at=off)
    created, answered, resolved = at(2, 10), us(at(2, 10, 0, 7), 123_457), us(at(2, 10, 20, 39), 654_321)
    h = History()
    c = h.conversation(
        channel=web, team=team, customer=customer, created=created, assignee=wang,
        first_responder=wang, first_response_at=answered,
    )  # fmt: skip
    h.customer_says(c, created, "你好，我买的电饭煲煮饭夹生，能换一台吗？")
    h.agent_says(c, answered, wang, "您好，非常抱歉给您带来不便，我帮您登记换货")
    h.status(c, resolved, "open", "resolved", wang)
    Conversation.objects.filter(pk=c.pk).update(status="resolved", resolved_at=resolved)
    ticket = Ticket.objects.create(number="GD20261102001", title="电饭煲夹生投诉", customer=customer,
                                   category="complaint", team=team, owner=wang, assignee=wang)  # fmt: skip
    opened, settled = us(at(2, 11), 500_001), us(at(2, 13, 5, 9), 999_999)
    complaint = Complaint.objects.create(ticket=ticket, what_happened="电饭煲煮饭夹生，要求换货")
    Complaint.objects.filter(pk=complaint.pk).update(created_at=opened, resolved_at=settled)
    return type("Day", (), {**locals()})


def expected(day: Any) -> dict[str, float]:
    """What datetime arithmetic gives, the way the figures were computed before."""
    online = (day.off - day.on).total_seconds()
    handled = (day.resolved - day.answered).total_seconds()
    return {
        "online_time": online,
        "occupancy": 100.0 * handled / online,
        "aht_mean": handled,
        "complaint_resolution_mean": (day.settled - day.opened).total_seconds(),
    }


def test_epoch_microseconds_is_the_exact_instant(day: Any) -> None:
    from kefu.accounts.models import StatusChange
    from kefu.analytics.metrics import EpochMicroseconds, _us

    read = dict(StatusChange.objects.annotate(t=EpochMicroseconds("at")).values_list("at", "t"))
    assert read == {day.on: _us(day.on), day.off: _us(day.off)}
    assert read[day.off] - read[day.on] == (day.off - day.on) // timedelta(microseconds=1)
    assert isinstance(read[day.on], int) and read[day.on] % 1_000_000 == 250_000


def test_fractions_of_a_second_give_the_figures_of_datetime_arithmetic(day: Any) -> None:
    from kefu.analytics import metrics

    want = expected(day)
    scope = metrics.Scope(at(2, 0), at(3, 0))
    got = metrics.compute(scope, list(want))
    assert {name: got[name].value for name in want} == want
    with metrics.shared(window=(at(1, 0), at(3, 0))):  # as a report reads them
        assert {name: metrics.compute(scope, list(want))[name].value for name in want} == want
    by_agent = {k: f.value for k, _l, f in metrics.breakdown(scope, "occupancy", "agent")}
    assert by_agent[str(day.wang.pk)] == want["occupancy"]

    client = Client()
    client.force_login(day.boss)
    query = urlencode({"start": at(2, 0).isoformat(), "end": at(3, 0).isoformat(), "names": ",".join(want)})
    r = client.get(f"/api/v1/metrics?{query}")
    assert r.status_code == 200, r.content
    api = {f["name"]: f["value"] for f in r.json()["figures"]}
    assert api == {name: round(value, 2) for name, value in want.items()}
    assert api["online_time"] == 28800.5 and api["aht_mean"] == 1232.53
