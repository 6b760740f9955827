"""The OpenAPI document: one schema per name, and every operation's error answers."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
from collections import defaultdict

from pydantic import BaseModel

import kefu
from kefu.api import api


def _api_models() -> dict[str, list[str]]:
    """Every pydantic model defined in an app's ``api`` module, by class name."""
    found: dict[str, list[str]] = defaultdict(list)
    for info in pkgutil.iter_modules(kefu.__path__):
        try:
            module = importlib.import_module(f"kefu.{info.name}.api")
        except ModuleNotFoundError:
            continue
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, BaseModel) and obj.__module__ == module.__name__:
                found[name].append(module.__name__)
    return found


def test_no_two_api_schemas_share_a_name() -> None:
    # The document keys schemas by class name: a second TransferIn silently replaced
    # the first, and five operations showed another operation's body.
    duplicates = {name: where for name, where in _api_models().items() if len(where) > 1}
    assert duplicates == {}


def test_the_renamed_bodies_are_each_in_the_document() -> None:
    schemas = api.get_openapi_schema()["components"]["schemas"]
    for name in ("TicketTransferIn", "ConversationTransferIn", "ComplaintTransferIn", "AgentStatusIn"):
        assert name in schemas


def test_every_operation_documents_its_error_answers() -> None:
    document = api.get_openapi_schema()
    assert document["components"]["schemas"]["Error"]["required"] == ["error", "detail"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert {"400", "404", "422"} <= responses.keys(), (method, path)
            if operation.get("security"):
                assert {"401", "403"} <= responses.keys(), (method, path)
            if "requestBody" in operation:
                assert {"413", "415"} <= responses.keys(), (method, path)
            error = responses["422"]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/Error"}


def test_the_served_document_has_no_duplicated_keys() -> None:
    # A response declared as 200 by one decorator and "200" by openapi_extra became two
    # "200" keys in the JSON; Swagger UI then refused the whole document.
    def no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
        keys = [key for key, _ in pairs]
        assert len(keys) == len(set(keys)), sorted(k for k in set(keys) if keys.count(k) > 1)
        return dict(pairs)

    json.loads(json.dumps(api.get_openapi_schema()), object_pairs_hook=no_duplicates)
