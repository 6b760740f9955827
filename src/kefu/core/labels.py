"""The Chinese names of the field keys people see: in error messages, forms and tickets.

One table for every app, so 「订单号」 is called the same on a ticket, in a department's
required information and in the message that says it is missing, and no page shows a
raw key such as ``refund_amount``. A key not listed is shown as it is.
"""

from __future__ import annotations

FIELD_LABELS: dict[str, str] = {
    # messages and notes
    "text": "消息内容",
    "note": "说明",
    "comment": "备注",
    "summary": "摘要",
    "reason": "理由",
    "resolution": "处理结果",
    "body": "正文",
    "answer": "答案",
    "title": "标题",
    "name": "名称",
    "description": "说明",
    "shortcut": "快捷码",
    "keywords": "关键词",
    "tags": "标签",
    "similar_questions": "相似问法",
    "url": "回调地址",
    # customers and orders
    "customer_name": "客户姓名",
    "display_name": "显示名称",
    "phone": "手机号",
    "email": "邮箱",
    "id_card": "身份证号",
    "bank_card": "银行卡号",
    "address": "地址",
    "order_no": "订单号",
    "tracking_no": "运单号",
    "carrier": "承运商",
    "currency": "币种",
    "sku": "商品编码",
    "location": "地点",
    # information departments ask for
    "evidence": "凭证（照片/视频链接）",
    "customer_request": "客户诉求",
    "amount": "涉及金额",
    "refund_amount": "退款金额",
    "contact_phone": "联系电话",
    "device": "设备/系统版本",
    # complaints
    "what_happened": "事情经过",
    "contact_preference": "联系方式偏好",
}


# What a department may ask for before it accepts a ticket, in the order the settings page
# offers them (a department may keep other keys it was given through the API).
DEPARTMENT_FIELD_KEYS: tuple[str, ...] = (
    "order_no",
    "tracking_no",
    "refund_amount",
    "amount",
    "evidence",
    "customer_request",
    "contact_phone",
    "address",
    "sku",
    "device",
)


def field_label(key: str) -> str:
    """The name of ``key`` for people; ``items.0.sku`` is named by its last part."""
    return FIELD_LABELS.get(key) or FIELD_LABELS.get(key.rsplit(".", 1)[-1], key)
