"""The public help centre pages (kefu.kb.views)."""

from __future__ import annotations

import pytest

from kefu.kb import services

pytestmark = pytest.mark.django_db


def test_help_centre_hides_drafts(client, editor):
    a = services.do_create_article(actor=editor, data={"title": "未发布的草稿"})
    assert client.get(f"/help/a/{a.pk}/").status_code == 404


def test_article_page_escapes_script_in_title(client, editor):
    a = services.do_create_article(
        actor=editor, data={"title": "<script>alert(1)</script>", "status": "published"}
    )
    html = client.get(f"/help/a/{a.pk}/").content.decode()
    assert "<script>alert(1)</script>" not in html
