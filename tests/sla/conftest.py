from tests.tickets.conftest import events, make_conversation, shop  # noqa: F401  (shared fixtures)
