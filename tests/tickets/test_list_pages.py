"""The ticket list at scale: 25 rows a page, keyset cursors both ways, a count that stops
early, sorts, and queries that do not grow with the rows (page and API)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from kefu.core import keyset
from kefu.tickets.models import Ticket

pytestmark = pytest.mark.django_db

TITLES = ("快递破损跟进", "退款未到账", "发票重开", "催发货", "换货地址修改")


@pytest.fixture
def client_of(client, shop):
    client.force_login(shop.agent)
    return client


def _tickets(shop, n, *, start=0):
    """``n`` tickets owned by the agent, one a minute apart (newest last), updated in the reverse order."""
    base = timezone.now() - timedelta(days=2)
    rows = [
        Ticket(
            number=f"T-LIST-{i:05d}",
            title=f"{TITLES[i % len(TITLES)]} {i}",
            customer=shop.conversation.customer,
            owner=shop.agent,
            assignee=shop.agent,
            status="in_progress" if i % 3 else "new",
        )
        for i in range(start, start + n)
    ]
    made = Ticket.objects.bulk_create(rows)
    for i, t in enumerate(made, start=start):
        Ticket.objects.filter(pk=t.pk).update(
            created_at=base + timedelta(minutes=i), updated_at=base + timedelta(hours=10, minutes=-i)
        )
    return made


def _numbers(html):
    return re.findall(r"T-LIST-\d{5}", html)


def _link(html, rel):
    m = re.search(rf'rel="{rel}" href="\?([^"]+)"', html)
    return m and m.group(1).replace("&amp;", "&")


def test_the_page_shows_25_rows_and_walks_forward_and_back_by_cursor(client_of, shop):
    _tickets(shop, 60)
    first = client_of.get("/desk/tickets/?view=all").content.decode()
    assert _numbers(first) == [f"T-LIST-{i:05d}" for i in range(59, 34, -1)]
    assert "共 60 条" in first and 'rel="prev"' not in first
    second = client_of.get("/desk/tickets/?" + _link(first, "next")).content.decode()
    assert _numbers(second) == [f"T-LIST-{i:05d}" for i in range(34, 9, -1)]
    third = client_of.get("/desk/tickets/?" + _link(second, "next")).content.decode()
    assert _numbers(third) == [f"T-LIST-{i:05d}" for i in range(9, -1, -1)]
    assert 'rel="next"' not in third
    back = client_of.get("/desk/tickets/?" + _link(third, "prev")).content.decode()
    assert _numbers(back) == _numbers(second)
    assert _numbers(client_of.get("/desk/tickets/?" + _link(back, "prev")).content.decode()) == _numbers(
        first
    )


def test_the_cursor_keeps_the_filters_and_the_sort(client_of, shop):
    _tickets(shop, 60)
    url = "/desk/tickets/?view=all&status=in_progress&sort=-updated_at"
    first = client_of.get(url).content.decode()
    expected = [f"T-LIST-{i:05d}" for i in range(60) if i % 3]  # oldest created = latest updated
    assert _numbers(first) == expected[:25]
    link = _link(first, "next")
    assert "status=in_progress" in link and "sort=-updated_at" in link
    assert _numbers(client_of.get("/desk/tickets/?" + link).content.decode()) == expected[25:]
    oldest = client_of.get("/desk/tickets/?view=all&sort=created_at").content.decode()
    assert _numbers(oldest)[:2] == ["T-LIST-00000", "T-LIST-00001"]


def test_beyond_the_cap_the_count_says_more_than(client_of, shop, monkeypatch):
    monkeypatch.setattr(keyset, "COUNT_CAP", 20)
    _tickets(shop, 30)
    html = client_of.get("/desk/tickets/?view=all").content.decode()
    assert "超过 20 条" in html and "共 30 条" not in html


def test_a_bad_sort_or_cursor_is_a_400_naming_the_field(client_of, shop):
    _tickets(shop, 30)
    assert client_of.get("/desk/tickets/?sort=title").status_code == 400
    assert client_of.get("/desk/tickets/?after=garbage").status_code == 400
    first = client_of.get("/desk/tickets/?view=all").content.decode()
    cursor = _link(first, "next").rsplit("after=", 1)[1]
    # A cursor made for one sort is refused by another.
    assert client_of.get(f"/desk/tickets/?view=all&sort=-updated_at&after={cursor}").status_code == 400
    body = client_of.get("/api/v1/tickets?after=garbage").json()
    assert body["fields"] == {"after": "无效的翻页位置"}
    assert client_of.get("/api/v1/tickets?sort=title").json()["fields"]["sort"]
    both = client_of.get(f"/api/v1/tickets?after={cursor}&offset=5").json()
    assert "offset" in both["fields"]


@pytest.mark.parametrize(
    "forged",
    [
        ["-created_at", 5, 1],  # a number where a date-time belongs
        ["-created_at", "2026-11-30T10:00:00", 1],  # no time zone
        ["-created_at", "2026-11-30T10:00:00+08:00", 2**70],  # an id past the database's integers
        ["-created_at", "2026-11-30T10:00:00+08:00", True],
        {"sort": "-created_at"},
    ],
)
def test_a_forged_cursor_is_a_400_not_a_500(client_of, shop, forged):
    import base64
    import json

    cursor = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
    assert client_of.get(f"/api/v1/tickets?after={cursor}").status_code == 400
    assert client_of.get(f"/desk/tickets/?view=all&before={cursor}").status_code == 400


def test_the_api_pages_by_cursor_and_by_offset(client_of, shop):
    _tickets(shop, 60)
    seen, url = [], "/api/v1/tickets?limit=25&sort=created_at"
    while url:
        body = client_of.get(url).json()
        seen += [t["number"] for t in body["items"]]
        url = body["next_cursor"] and f"/api/v1/tickets?limit=25&sort=created_at&after={body['next_cursor']}"
    assert seen == [f"T-LIST-{i:05d}" for i in range(60)]
    assert body["count"] == 60 and body["count_exact"] is True
    back = client_of.get(f"/api/v1/tickets?limit=25&sort=created_at&before={body['prev_cursor']}").json()
    assert [t["number"] for t in back["items"]] == seen[25:50]
    by_offset = client_of.get("/api/v1/tickets?limit=25&offset=25&sort=created_at").json()
    assert [t["number"] for t in by_offset["items"]] == seen[25:50]
    after = client_of.get(f"/api/v1/tickets?limit=25&sort=created_at&after={by_offset['next_cursor']}").json()
    assert [t["number"] for t in after["items"]] == seen[50:]


def _queries(client, url, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url)  # the session's first touch is not counted
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize(
    "url",
    [
        "/desk/tickets/?view=all&status=in_progress&sort=-updated_at",
        "/desk/tickets/?view=mine",
        "/api/v1/tickets?limit=25&sort=-updated_at",
    ],
)
def test_the_list_queries_do_not_grow_with_the_rows(client_of, shop, url, django_assert_max_num_queries):
    _tickets(shop, 3)
    with_three = _queries(client_of, url, django_assert_max_num_queries)
    _tickets(shop, 40, start=3)
    assert _queries(client_of, url, django_assert_max_num_queries) == with_three
    with django_assert_max_num_queries(8):
        client_of.get(url)


def test_a_row_shows_its_customer_people_department_labels_and_link(client_of, shop, make_user):
    from kefu.tickets.models import Department

    (t,) = _tickets(shop, 1)
    handler = make_user("wuliu01", display_name="物流小王")
    dept = Department.objects.create(name="仓储物流部")
    Ticket.objects.filter(pk=t.pk).update(
        assignee=handler, department=dept, category="after_sales", title="快递破损 13812345678"
    )
    html = client_of.get("/desk/tickets/?view=all").content.decode()
    row = html[html.rfind("<tr", 0, html.index("T-LIST-00000")) :]
    row = row[: row.index("</tr>")]
    assert f'href="/desk/tickets/{t.pk}/"' in row
    assert str(shop.conversation.customer) in row
    assert f"{shop.agent.name} / 物流小王" in row and "仓储物流部" in row
    assert "售后" in row and Ticket.Status(t.status).label in row
    assert "13812345678" not in row and "138****5678" in row
