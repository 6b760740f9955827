"""The settings hub (/desk/settings/): the list of settings pages, in one place.

To add a page, append one ``SettingsPage(...)`` line to ``PAGES`` (keep it sorted by
section). The hub shows an entry to users whose role is at least ``role``; the page
itself must still check the role on the server (``accounts.access.check_role``), as the
hub only hides links. Pages belong to their own app (``<app>/views.py``, URL under
``/desk/settings/<x>/``); this module names them by URL and imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .models import Role, User

# Who sees the hub and the 「设置」 link in the navigation.
HUB_ROLE = Role.SUPERVISOR


@dataclass(frozen=True)
class SettingsPage:
    url: str
    title: str
    description: str
    section: str
    role: str = Role.ADMIN  # the least role that may open the page


PAGES: tuple[SettingsPage, ...] = (
    SettingsPage(
        "/desk/settings/users/", "用户", "账号、角色、团队、接待上限、资深客服、停用、重置密码", "人员与团队"
    ),
    SettingsPage("/desk/settings/teams/", "团队", "团队（技能组）与通用队列", "人员与团队"),
    SettingsPage(
        "/desk/settings/channels/", "渠道", "网页聊天嵌入代码、邮件收件地址、平台渠道签名密钥", "渠道与路由"
    ),
    SettingsPage(
        "/desk/settings/bot/",
        "智能客服",
        "按渠道和团队启用机器人：时间、欢迎语、可回答的意图、VIP 直接转人工",
        "渠道与路由",
    ),
    SettingsPage(
        "/desk/settings/routing/", "路由规则", "按关键词或渠道把新会话分给团队并设置优先级", "渠道与路由"
    ),
    SettingsPage(
        "/desk/settings/departments/", "部门", "工单可转交的部门、转交前必填的信息、处理时限", "工单"
    ),
    SettingsPage(
        "/desk/settings/hours/",
        "营业时间与节假日",
        "团队与渠道的每周营业时间、法定节假日与调休；SLA 工作时间计时与下班提示按此计算",
        "服务时间",
        Role.SUPERVISOR,
    ),
    SettingsPage(
        "/desk/settings/proactive/",
        "主动服务",
        "发货、物流停滞、退款到账时主动通知客户，浏览停留时邀请咨询，配送延误声明的审批与发送",
        "渠道与路由",
        Role.SUPERVISOR,
    ),
    SettingsPage(
        "/desk/settings/training/",
        "模拟训练",
        "未通过训练认证的普通客服是否接待在线会话、训练案例的通过分数",
        "人员与团队",
    ),
    SettingsPage(
        "/desk/settings/presence/",
        "在线与离线",
        "离线客服的会话规则（保留或超时退回队列）、在线时长与状态记录",
        "人员与团队",
        Role.SUPERVISOR,
    ),
    SettingsPage(
        "/desk/settings/sla/",
        "SLA 策略与升级",
        "首次响应与解决时限、预警比例、超时升级链（组长、主管、经理）",
        "服务规则",
        Role.SUPERVISOR,
    ),
    SettingsPage(
        "/desk/staffing/settings/",
        "排班设置",
        "服务水平目标、同时接待数、损耗率、大促日（618、双11…）、班次与客服可排班时间",
        "服务时间",
        Role.SUPERVISOR,
    ),
    SettingsPage(
        "/desk/settings/targets/",
        "指标目标",
        "首次响应、解决率、满意度等指标的目标（全局与各团队），看板、报表与「我的数据」据此判断达标",
        "服务规则",
    ),
    SettingsPage(
        "/desk/settings/surveys/",
        "满意度调查与回访",
        "会话解决后的满意度（CSAT）与推荐意愿（NPS）调查、有效天数、低分回访阈值、投诉回访天数（全局与各渠道）",
        "服务规则",
    ),
    SettingsPage(
        "/desk/settings/stars/",
        "星级客服",
        "星级评定的权重（质检、满意度、解决率、一次解决率、接待量）、最低接待量与接待量目标",
        "服务规则",
    ),
    SettingsPage(
        "/desk/settings/wallboard-displays/",
        "看板投屏",
        "大屏幕用的只读主管看板链接：创建、吊销（不锁屏、不能操作、客户姓名打码）",
        "主管看板",
        Role.SUPERVISOR,
    ),
    SettingsPage("/api/v1/docs", "API 文档", "REST API 的交互式文档（离线可用）", "对接", Role.SUPERVISOR),
    SettingsPage(
        "/desk/audit/",
        "审计日志",
        "登录、权限变更、查看明文个人信息与消息原文等敏感操作的记录",
        "安全",
        Role.SUPERVISOR,
    ),
)


def pages_for(user: User) -> list[SettingsPage]:
    """The entries ``user`` may open, in list order."""
    return [page for page in PAGES if user.has_role_at_least(page.role)]


def sections_for(user: User) -> list[tuple[str, list[SettingsPage]]]:
    """``pages_for(user)`` grouped by section, sections in order of first appearance."""
    grouped: dict[str, list[SettingsPage]] = {}
    for page in pages_for(user):
        grouped.setdefault(page.section, []).append(page)
    return list(grouped.items())
