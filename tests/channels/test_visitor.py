"""Visitor tokens (kefu.channels.visitor): signed, keep the visitor across channels, refuse forgeries."""

from __future__ import annotations

import pytest

from kefu.channels.visitor import issue_visitor_token, read_visitor_token
from kefu.core.errors import Unauthorized


def test_visitor_token_round_trips_and_keeps_visitor_on_reissue():
    token = issue_visitor_token(3)
    visitor = read_visitor_token(token)
    assert visitor.channel_id == 3
    assert visitor.identities == [("web", visitor.visitor_id)]
    assert (
        read_visitor_token(issue_visitor_token(5, visitor_id=visitor.visitor_id)).visitor_id
        == visitor.visitor_id
    )
    assert read_visitor_token(issue_visitor_token(3)).visitor_id != visitor.visitor_id


@pytest.mark.parametrize("token", [None, "", 12, "abc", "x" * 600])
def test_malformed_visitor_token_is_unauthorized(token):
    with pytest.raises(Unauthorized):
        read_visitor_token(token)


def test_visitor_token_signed_with_another_key_is_unauthorized(settings):
    token = issue_visitor_token(1)
    settings.SECRET_KEY = "another-key-" + "x" * 40
    with pytest.raises(Unauthorized):
        read_visitor_token(token)
