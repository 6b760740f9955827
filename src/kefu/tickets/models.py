"""Tickets (工单): owner, priority, deadline and a complete trail."""

from __future__ import annotations

from django.db import models

from kefu.conversations.models import Priority


class Department(models.Model):
    """A responsible department a ticket can be transferred to.

    ``required_fields`` lists the ticket fields the department needs before it accepts
    a transfer (e.g. ``order_no``, ``evidence``, ``customer_request``).
    """

    name = models.CharField("名称", max_length=64, unique=True)
    team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.SET_NULL)
    required_fields = models.JSONField("必填信息", default=list, blank=True)
    deadline_hours = models.PositiveIntegerField("处理时限(小时)", default=24)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class TicketNumberCounter(models.Model):
    """The last ticket number given out on a day (``TK-<day>-<last>``): one row per day.

    ``records.take_ticket_number`` raises it with one upsert, which holds the row's lock
    until the creating transaction ends, so two processes never take the same number.
    """

    day = models.DateField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.day:%Y%m%d}: {self.last}"


class Ticket(models.Model):
    class Category(models.TextChoices):
        SERVICE = "service", "服务咨询"
        TECHNICAL = "technical", "技术问题"
        AFTER_SALES = "after_sales", "售后"
        COMPLAINT = "complaint", "投诉"

    class Source(models.TextChoices):
        DESK = "desk", "客服创建"
        # A customer's message left while nobody could take the chat (留言, docs/offhours.md).
        LEFT_MESSAGE = "left_message", "客户留言"

    class Status(models.TextChoices):
        NEW = "new", "新建"
        IN_PROGRESS = "in_progress", "处理中"
        WAITING_CUSTOMER = "waiting_customer", "等待客户"
        WAITING_DEPARTMENT = "waiting_department", "等待部门"
        RESOLVED = "resolved", "已解决"
        CLOSED = "closed", "已关闭"

    number = models.CharField("工单号", max_length=32, unique=True)
    title = models.CharField("标题", max_length=200)
    description = models.TextField("描述", blank=True)
    category = models.CharField("类别", max_length=16, choices=Category.choices, default=Category.SERVICE)
    urgent = models.BooleanField("紧急", default=False)
    important = models.BooleanField("重要", default=False)
    priority = models.CharField("优先级", max_length=2, choices=Priority.choices, default=Priority.P4)
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="tickets")
    # First-contact owner: stays responsible even after transfers.
    owner = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_tickets"
    )
    assignee = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned_tickets"
    )
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.SET_NULL)
    # The team that answers for the ticket while nobody owns it (a message left, 留言): its
    # members see it and hear of it.
    team = models.ForeignKey(
        "accounts.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="负责团队",
    )
    source = models.CharField("来源", max_length=16, choices=Source.choices, default=Source.DESK)
    status = models.CharField(
        "状态", max_length=20, choices=Status.choices, default=Status.NEW, db_index=True
    )
    fields = models.JSONField("补充信息", default=dict, blank=True)
    conversations = models.ManyToManyField("conversations.Conversation", related_name="tickets", blank=True)
    orders = models.ManyToManyField("customers.Order", related_name="tickets", blank=True)
    created_by = models.ForeignKey("accounts.User", null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    # SLA: due times stored, so timers survive restarts.
    first_response_due = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField("截止时间", null=True, blank=True, db_index=True)
    # When the sweep warns that a deadline is near; computed with the due time from
    # the policy's warn ratio (and business hours), so the sweep is a plain query.
    first_response_warn_at = models.DateTimeField(null=True, blank=True)
    due_warn_at = models.DateTimeField(null=True, blank=True)
    # Summary of the timers below, for badges and filters: the latest warning, the
    # earliest breach still standing.
    sla_warned_at = models.DateTimeField(null=True, blank=True)
    sla_breached_at = models.DateTimeField(null=True, blank=True)
    # Each timer announces its own warning and breach (``kefu.sla.policies.TICKET_TIMERS``).
    # A round is one window of a timer: a reopen or a recomputed deadline starts the next,
    # and escalation steps fire once per round. The policy that set the deadline gives
    # the escalation chain.
    first_response_warned_at = models.DateTimeField(null=True, blank=True)
    first_response_breached_at = models.DateTimeField(null=True, blank=True)
    first_response_round = models.PositiveIntegerField(default=1)
    first_response_policy = models.ForeignKey(
        "sla.SLAPolicy", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution_warned_at = models.DateTimeField(null=True, blank=True)
    resolution_breached_at = models.DateTimeField(null=True, blank=True)
    resolution_round = models.PositiveIntegerField(default=1)
    resolution_policy = models.ForeignKey(
        "sla.SLAPolicy", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The resolution clock stops while the ticket waits for the customer (等待客户):
    # when the current pause began, and the paused time already added to the deadline.
    sla_paused_at = models.DateTimeField(null=True, blank=True)
    sla_paused_seconds = models.PositiveIntegerField(default=0)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        # The ticket list's sorts (kefu.tickets.records.SORTS), alone and behind its most
        # used filter: a page walks 26 index entries instead of sorting every match.
        indexes = [
            models.Index(fields=["updated_at", "id"], name="ticket_updated"),
            models.Index(fields=["status", "created_at", "id"], name="ticket_status_created"),
            models.Index(fields=["status", "updated_at", "id"], name="ticket_status_updated"),
        ]

    def __str__(self) -> str:
        return self.number


class TicketEvent(models.Model):
    """One line of a ticket's history timeline."""

    class Kind(models.TextChoices):
        CREATED = "created", "创建"
        STATUS = "status", "状态变更"
        FIELD = "field", "信息变更"
        ASSIGNED = "assigned", "指派"
        TRANSFERRED = "transferred", "转部门"
        COMMENT = "comment", "备注"
        CUSTOMER_UPDATE = "customer_update", "通知客户"
        FOLLOW_UP = "follow_up", "跟进提醒"
        SLA_WARNING = "sla_warning", "即将超时"
        SLA_BREACHED = "sla_breached", "已超时"
        SLA_ESCALATED = "sla_escalated", "超时升级"
        LINKED = "linked", "关联"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    text = models.TextField(blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]


class FollowUp(models.Model):
    """A reminder on the owner's list to follow a ticket up."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="follow_ups")
    owner = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="follow_ups")
    due_at = models.DateTimeField(db_index=True)
    note = models.CharField(max_length=255)
    done_at = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["due_at", "id"]


OPEN_TICKET_STATUSES = (
    Ticket.Status.NEW,
    Ticket.Status.IN_PROGRESS,
    Ticket.Status.WAITING_CUSTOMER,
    Ticket.Status.WAITING_DEPARTMENT,
)

# The status machine. ``waiting_department`` is entered only by a transfer (which
# checks the department's required fields); resolved/closed → in_progress is a reopen.
Status = Ticket.Status
TRANSITIONS: dict[str, tuple[str, ...]] = {
    Status.NEW: (Status.IN_PROGRESS,),
    Status.IN_PROGRESS: (Status.WAITING_CUSTOMER, Status.RESOLVED),
    Status.WAITING_CUSTOMER: (Status.IN_PROGRESS, Status.RESOLVED),
    Status.WAITING_DEPARTMENT: (Status.IN_PROGRESS, Status.RESOLVED),
    Status.RESOLVED: (Status.CLOSED, Status.IN_PROGRESS),
    Status.CLOSED: (Status.IN_PROGRESS,),
}
