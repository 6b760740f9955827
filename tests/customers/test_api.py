from __future__ import annotations

import pytest

from kefu.accounts.models import AuditLog
from kefu.customers.models import Customer, Identity, LogisticsEvent, Order, OrderItem

pytestmark = pytest.mark.django_db


# --- customers -------------------------------------------------------------------------


def test_create_customer_returns_masked_pii(api_as):
    api = api_as()
    r = api.post(
        "/customers",
        {
            "name": "王芳",
            "phone": "13912345678",
            "id_card": "110105199003071234",
            "bank_card": "6222021234567890123",
            "tags": ["老客户"],
            "identities": [{"kind": "wechat", "value": "oWx-abc"}],
        },
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["phone"] == "139****5678"
    assert body["id_card"] == "110105********1234"
    assert body["bank_card"] == "6222***********0123"
    assert "13912345678" not in r.content.decode()
    assert Customer.objects.get(pk=body["id"]).phone == "13912345678"
    assert body["identities"][0]["kind"] == "wechat"


def test_phone_identities_are_masked_in_responses(api_as, make_customer):
    c = make_customer(identities=(("phone", "13800001111"),))
    r = api_as().get(f"/customers/{c.pk}/identities")
    assert r.json()["items"][0]["value"] == "138****1111"
    assert "13800001111" not in api_as().get(f"/customers/{c.pk}").content.decode()


def test_unknown_field_in_body_is_refused_naming_it(api_as):
    r = api_as().post("/customers", {"name": "x", "nickname": "y"})
    assert r.status_code == 422
    assert "nickname" in r.json()["fields"]


def test_wrong_type_is_refused_naming_the_field(api_as):
    r = api_as().post("/customers", {"name": "x", "vip_level": "3"})
    assert r.status_code == 422
    assert "vip_level" in r.json()["fields"]


def test_bad_phone_is_refused_naming_the_field(api_as):
    r = api_as().post("/customers", {"name": "x", "phone": "call me"})
    assert r.status_code == 400
    assert r.json()["fields"] == {"phone": r.json()["fields"]["phone"]}


def test_identity_of_another_customer_is_a_conflict(api_as, make_customer):
    make_customer(identities=(("email", "a@example.com"),))
    r = api_as().post(
        "/customers", {"name": "x", "identities": [{"kind": "email", "value": "A@example.com"}]}
    )
    assert r.status_code == 409
    assert Customer.objects.count() == 1


def test_list_paginates_with_total(api_as, make_customer):
    for i in range(5):
        make_customer(f"客户{i}")
    body = api_as().get("/customers", limit=2, offset=2).json()
    assert body["total"] == 5
    assert len(body["items"]) == 2
    assert body["limit"] == 2 and body["offset"] == 2


def test_limit_out_of_range_is_refused(api_as):
    r = api_as().get("/customers", limit=0)
    assert r.status_code == 422
    assert "limit" in r.json()["fields"]


def test_search_by_name_tag_vip_and_identity(api_as, make_customer):
    a = make_customer("陈静", identities=(("wechat", "oA1"),), tags=["老客户", "爱砍价"], vip_level=2)
    b = make_customer("陈晨", identities=(("app", "u-77"),), tags=["新客"])
    api = api_as()

    def ids(**params):
        return [c["id"] for c in api.get("/customers", **params).json()["items"]]

    assert set(ids(q="陈")) == {a.pk, b.pk}
    assert ids(tag="老客户") == [a.pk]
    assert ids(vip="true") == [a.pk]
    assert ids(vip="false") == [b.pk]
    assert ids(identity="u-77") == [b.pk]
    assert ids(identity="u-77", identity_kind="wechat") == []
    assert ids(q="oA1") == [a.pk]


def test_search_finds_a_phone_an_email_or_a_part_of_a_name(api_as, make_customer):
    a = make_customer("王小明", phone="13812345678", email="xiaoming@example.com")
    b = make_customer("李娜", identities=(("phone", "13900001111"),))
    api = api_as()

    def ids(q):
        return [c["id"] for c in api.get("/customers", q=q).json()["items"]]

    # A phone number however pasted (spaces, +86), stored on the profile or as an identity.
    assert ids("138 1234 5678") == [a.pk] and ids("+8613812345678") == [a.pk]
    assert ids("13900001111") == [b.pk]
    assert ids("XiaoMing@Example.com") == [a.pk]
    assert ids("小明") == [a.pk]
    assert ids("12345") == []  # a phone-like query never matches by a part of a name


def test_merged_customers_are_not_listed(api_as, make_customer, make_user):
    a, b = make_customer("甲"), make_customer("乙")
    admin = api_as("admin")
    assert admin.post("/customers/merge", {"source_id": a.pk, "target_id": b.pk}).status_code == 200
    assert [c["id"] for c in admin.get("/customers").json()["items"]] == [b.pk]


def test_patch_updates_profile_and_keeps_pii_masked(api_as, make_customer):
    c = make_customer("赵敏")
    r = api_as("team_lead").patch(
        f"/customers/{c.pk}",
        {
            "notes": "喜欢电话沟通",
            "tags": ["VIP", "VIP", "复购"],
            "vip_level": 3,
            "phone": "13600002222",
            "preferences": {"contact": "phone"},
        },
    )
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["notes"] == "喜欢电话沟通"
    assert body["tags"] == ["VIP", "复购"]
    assert body["vip_level"] == 3 and body["is_vip"]
    assert body["phone"] == "136****2222"
    assert body["preferences"] == {"contact": "phone"}


def test_patch_with_vip_level_out_of_range_names_field(api_as, make_customer):
    c = make_customer()
    r = api_as().patch(f"/customers/{c.pk}", {"vip_level": 99})
    assert r.status_code == 400
    assert "vip_level" in r.json()["fields"]


def test_missing_customer_is_404(api_as):
    assert api_as().get("/customers/999999").status_code == 404


def test_api_requires_login(client):
    assert client.get("/api/v1/customers").status_code == 401


# --- reveal and merge ------------------------------------------------------------------


def test_team_lead_reveals_phone_and_it_is_audited(api_as, make_customer):
    c = make_customer(phone="13712345678")
    lead = api_as("team_lead")
    r = lead.post(f"/customers/{c.pk}/reveal", {"field": "phone"})
    assert r.status_code == 200
    assert r.json()["value"] == "13712345678"
    log = AuditLog.objects.get(action=AuditLog.Action.REVEAL_PII)
    assert log.actor == lead.user
    assert log.target_id == str(c.pk)
    assert log.detail == {"field": "phone"}


def test_agent_may_not_reveal_and_nothing_is_audited(api_as, make_customer):
    c = make_customer(phone="13712345678")
    r = api_as("agent").post(f"/customers/{c.pk}/reveal", {"field": "phone"})
    assert r.status_code == 403
    assert "13712345678" not in r.content.decode()
    assert not AuditLog.objects.filter(action=AuditLog.Action.REVEAL_PII).exists()


def test_reveal_of_unknown_field_is_refused(api_as, make_customer):
    c = make_customer()
    r = api_as("admin").post(f"/customers/{c.pk}/reveal", {"field": "notes"})
    assert r.status_code == 422
    assert "field" in r.json()["fields"]


def test_reveal_order_address_needs_the_customers_order(api_as, order_payload):
    api = api_as("admin")
    api.post("/orders", order_payload)
    order = Order.objects.get()
    r = api.post(f"/customers/{order.customer_id}/reveal", {"field": "address", "order_no": order.order_no})
    assert r.json()["value"] == order_payload["address"]
    assert api.post(f"/customers/{order.customer_id}/reveal", {"field": "address"}).status_code == 400
    other = Customer.objects.create(name="别人")
    r = api.post(f"/customers/{other.pk}/reveal", {"field": "address", "order_no": order.order_no})
    assert r.status_code == 400


def test_admin_merges_customers_and_it_is_audited(api_as, make_customer):
    src = make_customer("王小明", identities=(("wechat", "o1"),), tags=["老客户"])
    dst = make_customer("王晓明", identities=(("phone", "13500001234"),), vip_level=1)
    admin = api_as("admin")
    r = admin.post("/customers/merge", {"source_id": src.pk, "target_id": dst.pk})
    assert r.status_code == 200, r.content
    assert {i["kind"] for i in r.json()["identities"]} == {"wechat", "phone"}
    assert r.json()["tags"] == ["老客户"]
    assert Customer.objects.get(pk=src.pk).merged_into_id == dst.pk
    assert AuditLog.objects.filter(action=AuditLog.Action.CUSTOMER_MERGE, actor=admin.user).exists()


def test_non_admin_may_not_merge(api_as, make_customer):
    a, b = make_customer(), make_customer()
    r = api_as("manager").post("/customers/merge", {"source_id": a.pk, "target_id": b.pk})
    assert r.status_code == 403
    assert Customer.objects.get(pk=a.pk).merged_into_id is None


def test_non_admin_is_refused_before_the_customers_are_looked_up(api_as):
    r = api_as("manager").post("/customers/merge", {"source_id": 987654, "target_id": 987655})
    assert r.status_code == 403


def test_merging_into_itself_is_refused(api_as, make_customer):
    a = make_customer()
    r = api_as("admin").post("/customers/merge", {"source_id": a.pk, "target_id": a.pk})
    assert r.status_code == 400
    assert "source_id" in r.json()["fields"]


# --- identities ------------------------------------------------------------------------


def test_add_and_delete_identity(api_as, make_customer):
    c = make_customer()
    api = api_as()
    r = api.post(f"/customers/{c.pk}/identities", {"kind": "email", "value": "Li@Example.com"})
    assert r.status_code == 201
    assert r.json()["value"] == "li@example.com"
    assert api.delete(f"/identities/{r.json()['id']}").status_code == 204
    assert not Identity.objects.exists()
    assert api.delete(f"/identities/{r.json()['id']}").status_code == 404


def test_identity_with_unknown_kind_names_kind(api_as, make_customer):
    c = make_customer()
    r = api_as().post(f"/customers/{c.pk}/identities", {"kind": "fax", "value": "1"})
    assert r.status_code == 400
    assert "kind" in r.json()["fields"]


# --- orders ----------------------------------------------------------------------------


def test_order_push_creates_customer_by_identity_and_masks_address(api_as, order_payload):
    r = api_as("admin").post("/orders", order_payload)
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["address"].startswith("浙江省杭州市") and "文三路" not in body["address"]
    assert body["amount"] == "128.00"
    assert [i["name"] for i in body["items"]] == ["真空保温杯 500ml", "杯刷"]
    assert body["logistics"][0]["description"] == "快件已揽收"
    customer = Customer.objects.get(pk=body["customer_id"])
    assert customer.name == "李娜"
    assert customer.identities.get().value == "13812345678"


def test_order_push_is_idempotent_on_order_no(api_as, order_payload):
    api = api_as("admin")
    assert api.post("/orders", order_payload).status_code == 201
    order_payload["shipping_status"] = "in_transit"
    r = api.post("/orders", order_payload)
    assert r.status_code == 200
    assert r.json()["shipping_status"] == "in_transit"
    assert Order.objects.count() == 1
    assert OrderItem.objects.count() == 2
    assert LogisticsEvent.objects.count() == 1
    assert Customer.objects.count() == 1


def test_order_for_customer_id(api_as, make_customer, order_payload):
    c = make_customer()
    del order_payload["customer"]
    order_payload["customer_id"] = c.pk
    r = api_as("admin").post("/orders", order_payload)
    assert r.json()["customer_id"] == c.pk


@pytest.mark.parametrize(
    ("change", "field", "status"),
    [
        ({"amount": "-1"}, "amount", 422),
        ({"amount": "abc"}, "amount", 422),
        ({"payment_status": "lost"}, "payment_status", 400),
        ({"shipping_status": "teleported"}, "shipping_status", 400),
        ({"placed_at": "yesterday"}, "placed_at", 422),
        ({"order_no": None}, "order_no", 422),
        ({"items": [{"name": "杯子", "quantity": 0, "price": "1"}]}, "items.0.quantity", 422),
        ({"items": [{"name": "杯子", "price": "-5"}]}, "items.0.price", 422),
        ({"customer": None}, "customer", 400),
        ({"customer": {"kind": "pager", "value": "1"}}, "customer.kind", 400),
    ],
)
def test_bad_order_input_names_the_field(api_as, order_payload, change, field, status):
    order_payload.update(change)
    if change.get("order_no", "") is None:
        del order_payload["order_no"]
    r = api_as("admin").post("/orders", order_payload)
    assert r.status_code == status, r.content
    assert field in r.json()["fields"], r.json()
    assert not Order.objects.exists()


def test_missing_amount_names_amount(api_as, order_payload):
    del order_payload["amount"]
    r = api_as("admin").post("/orders", order_payload)
    assert r.status_code == 422
    assert "amount" in r.json()["fields"]


def test_get_order_and_404(api_as, order_payload):
    api = api_as("admin")
    api.post("/orders", order_payload)
    assert api.get("/orders/YJ20261120001").json()["tracking_no"] == "SF1234567890"
    assert api.get("/orders/NOPE").status_code == 404


def test_list_orders_by_customer_and_status(api_as, order_payload):
    api = api_as("admin")
    api.post("/orders", order_payload)
    customer_id = Order.objects.get().customer_id
    assert api.get("/orders", customer_id=customer_id).json()["total"] == 1
    assert api.get("/orders", shipping_status="delivered").json()["total"] == 0
    assert api.get("/orders", q="SF1234567890").json()["total"] == 1
    assert api.get("/orders", shipping_status="bogus").status_code == 400


def test_append_logistics_events_and_update_status(api_as, order_payload):
    api = api_as("admin")
    api.post("/orders", order_payload)
    events = [
        {"at": "2026-11-21T08:00:00+08:00", "location": "上海转运中心", "description": "快件已到达转运中心"},
        {"at": "2026-11-20T18:00:00+08:00", "location": "杭州", "description": "快件已揽收"},
    ]
    r = api.post("/orders/YJ20261120001/logistics", {"events": events, "shipping_status": "in_transit"})
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["added_events"] == 1
    assert body["shipping_status"] == "in_transit"
    assert [e["description"] for e in body["logistics"]] == ["快件已到达转运中心", "快件已揽收"]


def test_append_logistics_with_unknown_status_names_it(api_as, order_payload):
    api = api_as("admin")
    api.post("/orders", order_payload)
    r = api.post("/orders/YJ20261120001/logistics", {"shipping_status": "flying"})
    assert r.status_code == 400
    assert "shipping_status" in r.json()["fields"]


def test_append_logistics_to_missing_order_is_404(api_as):
    r = api_as("admin").post("/orders/NOPE/logistics", {"events": []})
    assert r.status_code == 404


# --- input that must never become a 500 ------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("post", "/customers", {"name": "张\x00三"}, "name"),
        ("post", "/customers", {"tags": ["a\x00"]}, "tags.0"),
        ("post", "/customers", {"preferences": {"k": "v\x00"}}, "preferences.k"),
        ("post", "/customers", {"identities": [{"kind": "web", "value": "v\x00"}]}, "identities.0.value"),
        ("get", "/customers", {"q": "a\x00"}, "q"),
        ("get", "/orders", {"q": "a\x00"}, "q"),
    ],
)
def test_nul_characters_are_refused_naming_the_field(api_as, method, path, body, field):
    api = api_as()
    r = api.get(path, **body) if method == "get" else api.post(path, body)
    assert r.status_code == 400, r.content
    assert field in r.json()["fields"]


def test_order_no_with_nul_is_refused(api_as):
    response = api_as().get("/orders/a%00b")
    assert response.status_code == 400
    assert response.json()["fields"] == {"path": "不能包含控制字符"}


def test_non_numeric_customer_id_is_404(api_as):
    assert api_as().get("/customers/abc").status_code == 404


def test_malformed_json_is_a_client_error(api_as):
    r = api_as().client.post("/api/v1/customers", data="{nope", content_type="application/json")
    assert 400 <= r.status_code < 500
