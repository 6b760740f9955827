import pytest


@pytest.fixture(autouse=True)
def _fresh_index():
    """Each test's rows roll back, so each test starts with a fresh in-memory index."""
    from kefu.kb.index import reset_index

    reset_index()
    yield
    reset_index()


@pytest.fixture
def editor(make_user):
    from kefu.accounts.models import Role

    return make_user("kb-editor", role=Role.TEAM_LEAD, display_name="知识库组长")
