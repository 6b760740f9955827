"""Quality, ground floor: the rule set in force and its stored versions.

Rule sets are rows (``RuleSetVersion``); the newest is active. Each supervisor edit is
a partial override on top of the active set, checked by compiling it and running it on
probe replies, and becomes the next version.
"""

from __future__ import annotations

import copy
import math
import re
import threading
from collections.abc import Callable, Mapping
from types import NoneType, UnionType
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from kefu.accounts.access import check_role
from kefu.accounts.models import Role, User
from kefu.core.errors import Conflict, InvalidInput
from kefu.core.events import publish

from .models import RuleSetVersion
from .rules import (
    ITEM_LABELS,
    ReplyContext,
    Turn,
    check_reply,
    score_conversation,
)
from .rulesets import (
    RULE_IDS,
    SEVERITIES,
    InvalidRuleSet,
    RuleSet,
    cached_ruleset,
    default_ruleset,
)

# Supervisors and above edit the rules (and review replies: services.REVIEW_ROLE).
EDITOR_ROLE = Role.SUPERVISOR


class _Active:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.key: tuple[Any, ...] | None = None
        self.ruleset: RuleSet | None = None


_active = _Active()


def active_ruleset() -> RuleSet:
    """The newest stored rule set (the shipped default when none is stored).

    One small query per call; the JSON is read and compiled only when the newest
    version changed (``cached_ruleset`` keeps recent versions compiled).
    """
    head = RuleSetVersion.objects.order_by("-version").values_list("pk", "version", "created_at").first()
    if head is None:
        return default_ruleset()
    with _active.lock:
        if _active.key == head and _active.ruleset is not None:
            return _active.ruleset
    data = RuleSetVersion.objects.filter(pk=head[0]).values_list("data", flat=True).first()
    if data is None:  # deleted under us
        return default_ruleset()
    ruleset = cached_ruleset(data)
    with _active.lock:
        _active.key, _active.ruleset = head, ruleset
    return ruleset


def ruleset_versions() -> QuerySet[RuleSetVersion]:
    return RuleSetVersion.objects.select_related("author").defer("data").order_by("-version")


def _is_amount(value: Any) -> bool:
    return (
        not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value) and value >= 0
    )


# The shape an edited value must have, by the type of its shipped default (bool before
# number: a bool is an int); lists and objects are checked entry by entry.
_SCALAR_SHAPES: tuple[tuple[type | UnionType, Callable[[Any], bool], str], ...] = (
    (NoneType, lambda value: value is None or isinstance(value, str), "应为文字或 null"),
    (bool, lambda value: isinstance(value, bool), "应为 true 或 false"),
    (int | float, _is_amount, "应为不小于 0 的数字"),
    (str, lambda value: isinstance(value, str) and len(value) <= 2000, "应为文字（最多2000字）"),
)


def _shape_error(value: Any, default: Any, path: str, fields: dict[str, str]) -> None:
    """Record in ``fields`` where ``value`` does not have the shape of the shipped ``default``."""
    if len(fields) >= 20:
        return
    if isinstance(default, list):
        _list_shape_error(value, default, path, fields)
        return
    if isinstance(default, dict):
        _dict_shape_error(value, default, path, fields)
        return
    for kind, fits, message in _SCALAR_SHAPES:
        if isinstance(default, kind):
            if not fits(value):
                fields[path] = message
            return


def _list_shape_error(value: Any, default: list[Any], path: str, fields: dict[str, str]) -> None:
    if not isinstance(value, list) or len(value) > 2000:
        fields[path] = "应为列表（最多2000项）"
        return
    proto = default[0] if default else ""
    for i, entry in enumerate(value):
        _shape_error(entry, proto, f"{path}[{i}]", fields)


def _dict_shape_error(value: Any, default: dict[str, Any], path: str, fields: dict[str, str]) -> None:
    """Keys absent from the default take the shape of its first entry."""
    if not isinstance(value, dict) or len(value) > 2000:
        fields[path] = "应为对象（最多2000项）"
        return
    proto = next(iter(default.values()), "")
    for key, entry in value.items():
        if not key.strip() or len(key) > 200:
            fields[f"{path}.{key}"] = "键不能为空，最多200个字符"
            continue
        _shape_error(entry, default.get(key, proto), f"{path}.{key}", fields)


def _template_errors(path: str, entries: Any, fields: dict[str, str]) -> None:
    """Regex entries need a pattern, and their rewrite may only refer to groups it has."""
    if not isinstance(entries, list):
        return
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            continue
        if not isinstance(entry.get("regex"), str) or not entry["regex"]:
            fields[f"{path}[{i}].regex"] = "缺少正则表达式"
            continue
        try:
            groups = re.compile(entry["regex"]).groups
        except re.error as exc:
            fields[f"{path}[{i}].regex"] = f"正则表达式有误：{exc}"
            continue
        dummy = re.compile("()" * groups).match("")
        assert dummy is not None
        for key in ("rewrite", "replacement"):
            template = entry.get(key)
            if isinstance(template, str):
                try:
                    dummy.expand(template)
                except (re.error, IndexError) as exc:
                    fields[f"{path}[{i}].{key}"] = f"改写引用了不存在的分组：{exc}"


def _probe(ruleset: RuleSet) -> None:
    """Run the edited rule set once over texts that wake most rules (raises on a broken edit)."""
    ctx = ReplyContext(
        customer_emotion="angry",
        is_first_agent_reply=True,
        is_closing=True,
        customer_last_message="什么时候发货？投诉！",
        expects_time=True,
    )
    for text in (
        "可能明天吧，这是公司规定，抱歉但是没办法，不能今天发货，SKU 缺货了，尽快给您补偿100元，"
        "保证不会再出现，电话13812345678，亲亲666",
        "您好，理解您的心情，今天18:00前给您回复。还有其他可以帮您的吗？",
    ):
        check_reply(text, ctx, ruleset)
    score_conversation(
        [Turn("customer", "什么时候到？", "angry", 0.0), Turn("agent", "您好，尽快吧。", None, 30.0)],
        ruleset=ruleset,
    )


def check_overrides(base: RuleSet, overrides: Mapping[str, Any]) -> RuleSet:
    """Validate a supervisor's partial edit and build the next rule set from it.

    Errors name the field (``rules.slang.params.terms``) so a page or client can point
    at it; a set that validates but fails on probe texts is refused too.
    """
    _check_edit_keys(overrides)
    fields: dict[str, str] = {}
    shipped = default_ruleset().to_dict()
    current = base.to_dict()
    rules = _section(overrides, "rules", "应为以规则名为键的对象", fields)
    for rid, cfg in rules.items():
        _rule_errors(rid, cfg, shipped, current, fields)
    rubric = _section(overrides, "rubric", "应为对象", fields)
    known_rubric = {**shipped["rubric"], **current["rubric"]}
    for key, value in rubric.items():
        _rubric_error(key, value, known_rubric, fields)
    if fields:
        raise InvalidInput("规则集修改有误", fields=fields)
    try:
        edited = _merge_edit(base, rules, rubric)
    except InvalidRuleSet as exc:
        raise InvalidInput("规则集修改有误", fields={_field_of(str(exc)): str(exc)}) from exc
    try:
        _probe(edited)
    except Exception as exc:
        raise InvalidInput(
            "规则集修改后无法运行", fields={_breaking_field(base, rules): f"运行出错：{exc}"}
        ) from exc
    return edited


def _check_edit_keys(overrides: Any) -> None:
    """An edit is an object changing ``rules`` or ``rubric``, and at least one of them."""
    if not isinstance(overrides, Mapping):
        raise InvalidInput("修改内容应为对象", fields={"overrides": "应为对象"})
    unknown = set(overrides) - {"rules", "rubric"}
    if unknown:
        raise InvalidInput(
            "未知字段", fields={k: "未知字段（只能修改 rules 与 rubric）" for k in sorted(unknown)}
        )
    if not any(overrides.get(k) for k in ("rules", "rubric")):
        raise InvalidInput("没有任何修改", fields={"rules": "请至少修改一项"})


def _section(
    overrides: Mapping[str, Any], key: str, message: str, fields: dict[str, str]
) -> Mapping[str, Any]:
    """One part of the edit (empty when absent, or when it is no object: recorded in ``fields``)."""
    section = overrides.get(key) or {}
    if not isinstance(section, Mapping):
        fields[key] = message
        return {}
    return section


def _rule_errors(
    rid: str, cfg: Any, shipped: Mapping[str, Any], current: Mapping[str, Any], fields: dict[str, str]
) -> None:
    """Record what is wrong with the edit of one rule: its switches, then its params."""
    path = f"rules.{rid}"
    if rid not in RULE_IDS:
        fields[path] = "未知规则"
        return
    if not isinstance(cfg, Mapping):
        fields[path] = "应为对象"
        return
    for key in set(cfg) - {"enabled", "severity", "params"}:
        fields[f"{path}.{key}"] = "未知字段（只能修改 enabled、severity、params）"
    if "enabled" in cfg and not isinstance(cfg["enabled"], bool):
        fields[f"{path}.enabled"] = "应为 true 或 false"
    if "severity" in cfg and cfg["severity"] not in SEVERITIES:
        fields[f"{path}.severity"] = "应为 low、medium、high 之一"
    params = cfg.get("params", {})
    if not isinstance(params, Mapping):
        fields[f"{path}.params"] = "应为对象"
        return
    # A stored rule set may carry params the shipped one no longer has.
    known = {**shipped["rules"][rid]["params"], **current["rules"].get(rid, {}).get("params", {})}
    for key, value in params.items():
        if key not in known:
            fields[f"{path}.params.{key}"] = "未知参数"
        else:
            _shape_error(value, known[key], f"{path}.params.{key}", fields)
            _template_errors(f"{path}.params.{key}", value, fields)


def _rubric_error(key: str, value: Any, known: Mapping[str, Any], fields: dict[str, str]) -> None:
    """Record what is wrong with one rubric setting."""
    if key not in known:
        fields[f"rubric.{key}"] = "未知参数"
    elif key == "weights":
        _weights_errors(value, fields)
    elif key in ("clarity_rules", "conduct_rules"):
        if not isinstance(value, list) or any(r not in RULE_IDS for r in value):
            fields[f"rubric.{key}"] = "应为规则名列表"
    else:
        _shape_error(value, known[key], f"rubric.{key}", fields)


def _weights_errors(weights: Any, fields: dict[str, str]) -> None:
    if not isinstance(weights, Mapping):
        fields["rubric.weights"] = "应为对象"
        return
    for item, w in weights.items():
        if item not in ITEM_LABELS:
            fields[f"rubric.weights.{item}"] = "未知评分项"
        elif isinstance(w, bool) or not isinstance(w, int) or not 0 <= w <= 100:
            fields[f"rubric.weights.{item}"] = "应为 0–100 的整数"


def _breaking_field(base: RuleSet, rules: Mapping[str, Any]) -> str:
    """The first rule whose edit alone breaks the probe, else the rubric, to name in the error."""
    for rid, cfg in rules.items():
        try:
            _probe(_merge_edit(base, {rid: cfg}, {}))
        except Exception:
            return f"rules.{rid}"
    return "rubric"


def _merge_edit(base: RuleSet, rules: Mapping[str, Any], rubric: Mapping[str, Any]) -> RuleSet:
    """The next version: each param given replaces the stored one (a table is sent whole,
    so entries can be removed); switches, severities and rubric weights merge."""
    data = base.to_dict()
    merge: dict[str, Any] = {"rules": {}, "rubric": {}}
    for rid, cfg in rules.items():
        stored = data["rules"].setdefault(rid, {"enabled": False, "severity": "medium", "params": {}})
        for key, value in cfg.get("params", {}).items():
            stored["params"][key] = copy.deepcopy(value)
        switches = {k: v for k, v in cfg.items() if k != "params"}
        if switches:
            merge["rules"][rid] = switches
    for key, value in rubric.items():
        if key == "weights":
            merge["rubric"]["weights"] = value
        else:
            data["rubric"][key] = copy.deepcopy(value)
    return RuleSet.from_dict(data).with_overrides(merge)


def _field_of(message: str) -> str:
    m = re.match(r"rule '([a-z_]+)'", message)
    return f"rules.{m.group(1)}" if m else "rules"


def do_save_ruleset(*, actor: User, overrides: Mapping[str, Any], note: str = "") -> RuleSetVersion:
    """Save the active rule set with ``overrides`` merged in as the next version."""
    check_role(actor, EDITOR_ROLE)
    if not isinstance(note, str) or len(note) > 255:
        raise InvalidInput("备注最多255个字符", fields={"note": "最多255个字符"})
    base = active_ruleset()
    edited = check_overrides(base, overrides)
    try:
        with transaction.atomic():
            row = RuleSetVersion.objects.create(
                version=edited.version, data=edited.to_json(), author=actor, note=note.strip()
            )
    except IntegrityError as exc:
        raise Conflict("规则集刚被他人修改，请刷新后重试") from exc
    publish(
        "quality.ruleset_saved",
        {"version": row.version, "author": actor.name, "note": row.note},
        webhook=False,
    )
    return row
