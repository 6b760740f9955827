"""Complaints: the stages of the handbooks' workflow and what intake needs (pure, over the models)."""

from __future__ import annotations

from .models import (
    Complaint,
    Stage,
)

STAGE_ORDER = [Stage.INTAKE, Stage.ANALYSIS, Stage.TRACKING, Stage.RESOLUTION, Stage.FOLLOW_UP, Stage.CLOSED]
# The four steps for every stage of a complaint: listen, soothe, explain, solve.
FOUR_STEPS = [
    ("倾听", "让客户把话说完，不打断不辩解，复述确认“您是说……对吗？”"),
    ("安抚", "认同感受并真诚道歉：“非常理解您的心情，给您添麻烦了。”"),
    ("解释", "说明原因与处理流程，不推卸责任，不用内部术语。"),
    ("解决", "给出具体方案和完成时间；超出权限的补偿先申请审批，批准前不对客户承诺。"),
]
STAGE_GUIDE = {
    Stage.INTAKE: "登记事情经过、客户诉求、证据（照片等）和联系方式偏好，四项齐全才能进入分析。",
    Stage.ANALYSIS: "判断责任部门，补齐部门要求的信息后转办，并告知客户处理时限。",
    Stage.TRACKING: "按设定间隔向客户同步进展，即使没有新进展也要告知；记录每一个承诺。",
    Stage.RESOLUTION: "把书面处理结果发给客户，等待客户确认满意。",
    Stage.FOLLOW_UP: "结案几天后回访，确认问题真正解决、客户是否满意。",
    Stage.CLOSED: "已结案。",
}


def intake_missing(c: Complaint) -> list[str]:
    missing = []
    if not c.what_happened.strip():
        missing.append("what_happened")
    if not c.customer_request.strip():
        missing.append("customer_request")
    if not c.evidence:
        missing.append("evidence")
    if not c.contact_preference.strip():
        missing.append("contact_preference")
    return missing


INTAKE_LABELS = {
    "what_happened": "事情经过",
    "customer_request": "客户诉求",
    "evidence": "证据",
    "contact_preference": "联系方式偏好",
}
