"""Pages: the board, the silent observer's view, the display tokens' page, the wall screen."""

from __future__ import annotations

import json
import re

import pytest

from kefu.accounts.models import AuditLog
from kefu.wallboard.models import DisplayToken
from kefu.wallboard.services import do_create_display_token, do_revoke_display_token

pytestmark = pytest.mark.django_db


def snapshot_in(html: str) -> dict:
    m = re.search(r'<script id="kefu-wallboard-snapshot" type="application/json">(.*?)</script>', html, re.S)
    assert m, "the page embeds its first snapshot"
    return json.loads(m.group(1))


def test_board_requires_login(client):
    r = client.get("/desk/wallboard/")
    assert r.status_code == 302 and r["Location"].startswith("/login/")


def test_board_is_forbidden_for_agents(client, floor):
    client.force_login(floor.xiaomei)
    r = client.get("/desk/wallboard/")
    assert r.status_code == 403
    assert "没有权限" in r.content.decode()


def test_supervisor_sees_every_team_with_actions(client, floor):
    client.force_login(floor.supervisor)
    r = client.get("/desk/wallboard/")
    assert r.status_code == 200
    html = r.content.decode()
    board = snapshot_in(html)
    assert {t["name"] for t in board["teams"]} == {"售前咨询", "售后服务"}
    names = {a["name"] for a in board["agents"]["items"]}
    assert {"小美", "老周"} <= names
    assert 'id="kefu-wallboard"' in html and "kefu/wallboard.js" in html
    assert "/desk/settings/wallboard-displays/" in html  # may put it on a wall screen
    assert 'href="/desk/wallboard/"' in html  # the navigation's 主管看板


def test_team_lead_sees_only_own_teams(client, floor):
    client.force_login(floor.lead_a)
    html = client.get("/desk/wallboard/").content.decode()
    board = str(snapshot_in(html))
    assert "小美" in board
    assert "售后服务" not in board and "老周" not in board and "赵强" not in board
    assert "/desk/settings/wallboard-displays/" not in html
    assert client.get(f"/desk/wallboard/?team_id={floor.aftersale.pk}").status_code == 403


def test_observer_page_shows_the_conversation_and_says_the_customer_is_not_told(client, floor):
    client.force_login(floor.lead_b)
    r = client.get(f"/desk/wallboard/observe/{floor.angry.pk}/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "静默旁听" in html and "客户不会收到任何提示" in html and "12315" in html
    client.force_login(floor.lead_a)
    assert client.get(f"/desk/wallboard/observe/{floor.angry.pk}/").status_code == 403


def test_displays_page_creates_a_link_shown_once_and_audited(client, floor):
    client.force_login(floor.supervisor)
    r = client.post("/desk/settings/wallboard-displays/", {"name": "客服大厅电视", "team": ""})
    assert r.status_code == 200
    html = r.content.decode()
    m = re.search(r"http://testserver/wallboard/display/(wb_[\w-]+)/", html)
    assert m, "the new link is on the page"
    token = DisplayToken.objects.get(name="客服大厅电视")
    assert token.team is None and token.created_by == floor.supervisor
    assert AuditLog.objects.filter(action=AuditLog.Action.TOKEN_CREATE, target_id=str(token.pk)).exists()
    listing = client.get("/desk/settings/wallboard-displays/").content.decode()
    assert "客服大厅电视" in listing and m.group(1) not in listing
    r = client.post(f"/desk/settings/wallboard-displays/{token.pk}/revoke/")
    assert r.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_displays_page_is_for_supervisors(client, floor):
    client.force_login(floor.lead_a)
    assert client.get("/desk/settings/wallboard-displays/").status_code == 403
    assert client.post("/desk/settings/wallboard-displays/", {"name": "偷偷投屏"}).status_code == 403
    assert not DisplayToken.objects.exists()


def test_the_wall_screen_is_read_only_masked_and_never_idle_locks(client, floor, settings):
    _, key = do_create_display_token(actor=floor.supervisor, name="售后组投屏", team_id=floor.aftersale.pk)
    r = client.get(f"/wallboard/display/{key}/")  # no session at all
    assert r.status_code == 200
    assert r["Referrer-Policy"] == "no-referrer"
    html = r.content.decode()
    board = snapshot_in(html)
    assert board["display"] is True
    assert [t["name"] for t in board["teams"]] == ["售后服务"]
    text = str(board)
    assert "赵强" not in text and "王芳" not in text and "赵*" in text  # names masked
    assert "张伟" not in text and "张*" not in text  # another team's customers
    # No desk: no navigation, no idle lock, no action buttons, no desk script.
    assert "data-idle-timeout" not in html and "kefu-lock" not in html and "desk.js" not in html
    assert "/ws/wallboard/" in open_script("wallboard.js")
    # Hours later the screen still shows the board: there is no session to lock.
    settings.KEFU_IDLE_TIMEOUT = 1
    assert client.get(f"/wallboard/display/{key}/").status_code == 200


def test_a_revoked_or_unknown_display_key_is_refused(client, floor):
    token, key = do_create_display_token(actor=floor.supervisor, name="大厅电视")
    do_revoke_display_token(actor=floor.supervisor, token_id=token.pk)
    assert client.get(f"/wallboard/display/{key}/").status_code == 401
    assert client.get("/wallboard/display/wb_nothing/").status_code == 401
    assert "kefu-wallboard-snapshot" not in client.get(f"/wallboard/display/{key}/").content.decode()


def test_a_display_key_is_not_a_desk_login(client, floor):
    _, key = do_create_display_token(actor=floor.supervisor, name="大厅电视")
    client.get(f"/wallboard/display/{key}/")
    assert client.get("/desk/wallboard/").status_code == 302  # still signed out
    assert client.get("/api/v1/wallboard", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 401
    r = client.post(
        f"/api/v1/wallboard/conversations/{floor.size.pk}/take-over",
        {},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert r.status_code == 401


def open_script(name: str) -> str:
    from pathlib import Path

    import kefu

    return (Path(kefu.__file__).parent / "static" / "kefu" / name).read_text(encoding="utf-8")
