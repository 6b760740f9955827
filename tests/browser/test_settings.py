"""Settings and the pages around them, in the browser: the hub, the offline API docs."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def _block_internet(context, live_desk) -> list[str]:
    """Abort every request that leaves the test server; returns the list of those refused."""
    own = urlsplit(live_desk.url).netloc
    refused: list[str] = []

    def route(r):
        if urlsplit(r.request.url).netloc == own:
            r.continue_()
        else:
            refused.append(r.request.url)
            r.abort("internetdisconnected")

    context.route("**/*", route)
    return refused


def test_api_docs_render_operations_with_the_internet_blocked(desk_page, live_desk):
    page = desk_page("zhuguan", path="/desk/settings/")
    refused = _block_internet(page.context, live_desk)
    page.get_by_role("link", name="API 文档").click()
    page.wait_for_url(f"{live_desk.url}/api/v1/docs")
    # Swagger UI lays out a couple of hundred operations: on a loaded two-core machine
    # that takes longer than the suite's default wait.
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible(timeout=40_000)
    assert page.locator(".swagger-ui .opblock").count() > 50
    expect(page.locator(".swagger-ui")).to_contain_text("/api/v1/conversations")
    assert refused == []


# Pairs of boxes that overlap: each <dt> against its <dd>, in one evaluate (no round trips).
OVERLAPS = """
(root) => {
  const bad = [];
  for (const dt of document.querySelectorAll(root + " dt")) {
    const dd = dt.nextElementSibling;
    if (!dd || dd.tagName !== "DD") continue;
    const a = dt.getBoundingClientRect(), b = dd.getBoundingClientRect();
    const apart = a.right <= b.left + 0.5 || b.right <= a.left + 0.5 || a.bottom <= b.top + 0.5 || b.bottom <= a.top + 0.5;
    // A label's text wider than its own box spills under the value (「refund_amo139.00」).
    if (!apart || dt.scrollWidth > dt.clientWidth + 1) bad.push(dt.textContent + "|" + dd.textContent);
  }
  return bad;
}
"""

# The computed look of every text-like input, select and textarea in a form.
INPUT_STYLES = """
(form) => Array.from(document.querySelectorAll(form + " input:not([type=hidden]):not([type=checkbox]):not([type=radio]), " + form + " select, " + form + " textarea"))
  .map((el) => { const s = getComputedStyle(el); return [s.borderTopWidth, s.borderTopStyle, s.borderTopColor, s.borderRadius, s.paddingLeft].join(" "); })
"""

# A checkbox on the same line as its text, and as small as a checkbox.
CHECKBOXES = """
(form) => Array.from(document.querySelectorAll(form + " label")).filter((l) => l.querySelector("input[type=checkbox]")).map((l) => {
  const box = l.querySelector("input[type=checkbox]").getBoundingClientRect();
  const range = document.createRange();
  range.selectNodeContents(l);
  const text = Array.from(range.getClientRects()).filter((r) => r.width > 0 && r.left >= box.right - 1);
  const line = text.length ? text[0] : null;
  return {text: l.textContent.trim(), width: box.width,
          beside: !!line && Math.abs((line.top + line.bottom) / 2 - (box.top + box.bottom) / 2) < 8};
})
"""


def test_ticket_fields_and_edit_form_render_cleanly(desk_page, live_desk):
    ticket = live_desk.run(
        """
from kefu.accounts.models import User
from kefu.tickets.services import do_create_ticket
t = do_create_ticket(actor=User.objects.get(username="zhuguan"), customer_id=CUSTOMER_ID, title="保温杯退款：少退了运费",
                     category="after_sales", fields={"order_no": "YJ20261118001", "refund_amount": "139.00",
                     "evidence": "https://img.example.com/cup-dent-1.jpg", "tracking_no": "SF1418001188"})
emit(t.pk)
""".replace("CUSTOMER_ID", str(live_desk.seed["visitors"]["zhang"]["customer_id"]))
    )
    page = desk_page("zhuguan", path=f"/desk/tickets/{ticket}/", viewport={"width": 1280, "height": 900})
    fields = page.locator("dl").first
    expect(fields).to_contain_text("退款金额")
    expect(fields).to_contain_text("凭证（照片/视频链接）")
    assert "refund_amount" not in fields.inner_text()
    assert page.evaluate(OVERLAPS, ".tickets-page") == []
    page.get_by_text("编辑工单").click()
    form = f"form[action='/desk/tickets/{ticket}/edit/']"
    boxes = page.evaluate(CHECKBOXES, form)
    assert [b["text"] for b in boxes] == ["紧急", "重要"]
    assert all(b["beside"] and b["width"] < 30 for b in boxes), boxes
    styles = page.evaluate(INPUT_STYLES, form)
    assert len(styles) >= 5 and len(set(styles)) == 1, styles


def test_complaint_transfer_form_names_fields_in_chinese_in_one_style(desk_page, live_desk):
    complaint = live_desk.run(
        """
from kefu.accounts.models import User
from kefu.complaints.services import do_open_complaint
from kefu.tickets.models import Department
Department.objects.create(name="财务部", required_fields=["order_no", "refund_amount"], deadline_hours=48)
c = do_open_complaint(actor=User.objects.get(username="zhuguan"), customer_id=CUSTOMER_ID, title="投诉：空气炸锅退款迟迟不到",
                      data={"what_happened": "退货已签收一周，退款还没到账"})
emit(c.pk)
""".replace("CUSTOMER_ID", str(live_desk.seed["visitors"]["liu"]["customer_id"]))
    )
    page = desk_page(
        "zhuguan", path=f"/desk/complaints/{complaint}/", viewport={"width": 1280, "height": 900}
    )
    options = page.locator("select[name=department_id] option").all_inner_texts()
    assert any("财务部（需：订单号、退款金额" in o for o in options), options
    assert not any("refund_amount" in o for o in options)
    form = "form:has(input[name=action][value=transfer])"
    styles = page.evaluate(INPUT_STYLES, form)
    assert len(styles) >= 5 and len(set(styles)) == 1, styles
    assert page.evaluate(OVERLAPS, "main") == []


def test_settings_form_shows_one_success_message_and_a_clean_customer_list(desk_page, live_desk):
    live_desk.run(
        """
from kefu.accounts.models import Role
from kefu.accounts.services import do_create_user
do_create_user(username="guanliyuan", password=os.environ["SEED_PASSWORD"], role=Role.ADMIN, display_name="赵管理")
emit(1)
"""
    )
    page = desk_page("guanliyuan", path="/desk/settings/", viewport={"width": 1280, "height": 900})
    page.get_by_role("link", name="用户").click()
    page.get_by_role("row", name="小美").get_by_role("link", name="编辑").click()
    boxes = page.evaluate(CHECKBOXES, "form.settings-form")
    assert boxes and all(b["beside"] and b["width"] < 30 for b in boxes), boxes
    page.fill("#id_max_concurrent", "0")
    page.get_by_role("button", name="保存").click()
    expect(page.locator(".field-errors")).to_have_text("确保该值大于或等于1。")
    page.fill("#id_max_concurrent", "6")
    page.get_by_role("button", name="保存").click()
    expect(page.locator(".flash li")).to_have_count(1)
    expect(page.locator(".flash li")).to_have_text("已保存 小美 的设置。")
    expect(page.get_by_role("row", name="小美")).to_contain_text("6")
    page.reload()
    expect(page.locator(".flash li")).to_have_count(0)

    page.goto(f"{live_desk.url}/desk/customers/?q=YJ20261118001")
    row = page.locator(".cust-table tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("张女士")
    expect(row).to_contain_text("138****5678")
    cells = [c.bounding_box() for c in row.locator("td").all()]
    assert all(a["x"] + a["width"] <= b["x"] + 1 for a, b in zip(cells, cells[1:], strict=False))
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
