"""Surge detection as plain functions: contacts in, surges out (no Django, no database).

A *contact* is one new conversation: when it started, its team, intent, the
customer's first words, and the SKUs and logistics route of the order it is about. A
*surge* is a group of contacts about the same problem — the same SKU, the same route
or warehouse, or the same intent with similar text — arriving in the last window
(15 minutes by default) faster than that group's normal level for this hour of the
day, learnt from the same hour on previous days.

The threshold is deliberately two-sided: at least ``min_count`` contacts (a handful of
customers asking where their parcel is happens every minute) and at least ``ratio``
times the normal number for the window plus a margin (a product that always gets many
questions is not an incident). The service loads contacts and calls ``find_surges``
each worker tick; ``bench/incidents.py`` replays a day through the same function.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from kefu.nlp.normalize import normalize_text
from kefu.nlp.similarity import signature, signature_similarity

__all__ = ["Contact", "DetectionSettings", "IncidentSpec", "Surge", "find_surges", "match_reason"]


@dataclass(frozen=True, slots=True)
class DetectionSettings:
    window_minutes: int = 15
    min_count: int = 8
    ratio: float = 4.0
    margin: float = 3.0
    similarity: float = 0.34
    # A member whose wording has this many similar contacts an hour in the history is an
    # everyday question, left out of its cluster's normal level (_leaders).
    usual_per_hour: float = 1.0
    # Neighbouring members a new contact is compared with (the cluster's first few):
    # enough to catch rewordings, bounded so one tick stays linear in the contacts.
    compare_with: int = 20


@dataclass(frozen=True, slots=True)
class Contact:
    id: int
    at: datetime
    text: str
    team_id: int | None = None
    intent: str = ""
    skus: tuple[str, ...] = ()
    routes: tuple[str, ...] = ()
    customer_id: int = 0
    order_no: str = ""
    sig: frozenset[str] = field(default=frozenset(), compare=False)

    def signed(self) -> Contact:
        if self.sig:
            return self
        return Contact(
            self.id,
            self.at,
            self.text,
            self.team_id,
            self.intent,
            self.skus,
            self.routes,
            self.customer_id,
            self.order_no,
            signature(self.text),
        )


@dataclass(frozen=True, slots=True)
class Surge:
    team_id: int | None
    kind: str  # "sku" | "route" | "text"
    key: str
    label: str
    intent: str
    contacts: tuple[Contact, ...]
    normal_per_hour: float
    window_minutes: int

    @property
    def count(self) -> int:
        return len(self.contacts)

    @property
    def rate_per_hour(self) -> float:
        return self.count * 60.0 / self.window_minutes

    @property
    def first_at(self) -> datetime:
        return min(c.at for c in self.contacts)


@dataclass(frozen=True, slots=True)
class IncidentSpec:
    """What makes a conversation part of an incident (proposed from a surge, or written by hand)."""

    intent: str = ""
    skus: tuple[str, ...] = ()
    routes: tuple[str, ...] = ()
    samples: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()


def _text_clusters(contacts: Sequence[Contact], settings: DetectionSettings) -> list[list[Contact]]:
    """Greedy clustering by intent, then text: each contact joins the first cluster it resembles."""
    by_intent: dict[str, list[list[Contact]]] = defaultdict(list)
    for c in sorted(contacts, key=lambda c: (c.at, c.id)):
        clusters = by_intent[c.intent]
        for cluster in clusters:
            if any(
                signature_similarity(c.sig, m.sig) >= settings.similarity for m in _probes(cluster, settings)
            ):
                cluster.append(c)
                break
        else:
            clusters.append([c])
    out = []
    for clusters in by_intent.values():
        # Second look: a message that came before the wording settled (the first of a
        # surge, compared with nothing yet) joins the biggest cluster it resembles now.
        clusters.sort(key=len, reverse=True)
        kept: list[list[Contact]] = []
        for cluster in clusters:
            home = None
            if len(cluster) < settings.min_count:
                home = next(
                    (
                        big
                        for big in kept
                        if any(
                            signature_similarity(c.sig, m.sig) >= settings.similarity
                            for c in cluster
                            for m in _probes(big, settings)
                        )
                    ),
                    None,
                )
            if home is None:
                kept.append(cluster)
            else:
                home.extend(cluster)
        out.extend(kept)
    return out


def _leaders(
    cluster: list[Contact],
    history: Sequence[Contact],
    hours: set[int],
    days: int,
    settings: DetectionSettings,
) -> list[Contact]:
    """The members that tell what this cluster is about, for its normal level.

    A greedy cluster also takes in everyday questions that resemble its members
    (「我的快递到哪了」 beside 「显示已签收但快递柜里没有」); measured with them, the
    cluster's normal level is the everyday question's, and a new problem had to reach
    four times that before it counted. Members whose wording is itself common at this
    hour (``usual_per_hour`` similar contacts an hour in the history) are left out of the
    measure, unless every member is.
    """
    if days <= 0:
        return cluster[: settings.compare_with]
    same = [h for h in history if h.intent == cluster[0].intent]
    limit = settings.usual_per_hour * days * max(1, len(hours))
    unusual = []
    for m in cluster:
        similar = 0
        for h in same:
            if signature_similarity(h.sig, m.sig) >= settings.similarity:
                similar += 1
                if similar >= limit:
                    break
        if similar < limit:
            unusual.append(m)
            if len(unusual) == settings.compare_with:
                break
    return unusual or cluster[: settings.compare_with]


def _has(attr: str, value: str) -> Callable[[Contact], bool]:
    def belongs(h: Contact) -> bool:
        return value in getattr(h, attr)

    return belongs


def _probes(cluster: list[Contact], settings: DetectionSettings) -> list[Contact]:
    """The first and the latest few members: the problem as first told, and as it is told now."""
    half = settings.compare_with // 2
    if len(cluster) <= settings.compare_with:
        return cluster
    return cluster[:half] + cluster[-half:]


def _normal_per_hour(
    history: Sequence[Contact], hours: set[int], days: int, belongs: Callable[[Contact], bool]
) -> float:
    if days <= 0:
        return 0.0
    count = sum(1 for h in history if h.at.hour in hours and belongs(h))
    return count / days / max(1, len(hours))


def find_surges(
    recent: Iterable[Contact],
    history: Sequence[Contact],
    *,
    history_days: int,
    now: datetime,
    settings: DetectionSettings | None = None,
) -> list[Surge]:
    """Groups of contacts in the window ending ``now`` that are a surge, biggest first.

    ``history`` holds the contacts of the previous ``history_days`` days (all hours or
    just those around ``now``: only the hours of the window are read). Times must be in
    the desk's time zone, so "the hour" means the same hour every day.
    """
    s = settings or DetectionSettings()
    start = now - timedelta(minutes=s.window_minutes)
    window = [c.signed() for c in recent if start < c.at <= now]
    hours = {start.hour, now.hour}
    signed_history = [h.signed() for h in history if h.at.hour in hours]
    by_team: dict[int | None, list[Contact]] = defaultdict(list)
    for c in window:
        by_team[c.team_id].append(c)
    surges: list[Surge] = []
    for team_id, contacts in by_team.items():
        if len(contacts) < s.min_count:
            continue
        team_history = [h for h in signed_history if h.team_id == team_id]
        candidates: list[tuple[str, str, str, str, list[Contact], Callable[[Contact], bool]]] = []
        for attr, kind in (("skus", "sku"), ("routes", "route")):
            groups: dict[str, list[Contact]] = defaultdict(list)
            for c in contacts:
                for value in getattr(c, attr):
                    groups[value].append(c)
            for value, members in groups.items():
                candidates.append(
                    (
                        kind,
                        f"{kind}:{value}",
                        value,
                        "",
                        members,
                        _has(attr, value),
                    )
                )
        for cluster in _text_clusters(contacts, s):
            if len(cluster) < s.min_count:
                continue
            intent = cluster[0].intent
            leaders = _leaders(cluster, team_history, hours, history_days, s)

            def similar(h: Contact, leaders: list[Contact] = leaders, intent: str = intent) -> bool:
                return h.intent == intent and any(
                    signature_similarity(h.sig, m.sig) >= s.similarity for m in leaders
                )

            candidates.append(
                ("text", f"text:{intent}:{cluster[0].id}", cluster[0].text[:60], intent, cluster, similar)
            )
        for kind, key, label, intent, members, belongs in candidates:
            if len(members) < s.min_count:
                continue
            normal = _normal_per_hour(team_history, hours, history_days, belongs)
            expected = normal * s.window_minutes / 60.0
            if len(members) >= max(s.min_count, expected * s.ratio + s.margin):
                surges.append(
                    Surge(team_id, kind, key, label, intent, tuple(members), normal, s.window_minutes)
                )
    surges.sort(key=lambda g: (-g.count, g.kind != "sku", g.kind != "route", g.key))
    return surges


def match_reason(spec: IncidentSpec, contact: Contact, *, similarity: float = 0.34) -> str | None:
    """Why ``contact`` belongs to the incident described by ``spec`` ("sku" …), or None."""
    if spec.skus and set(spec.skus) & set(contact.skus):
        return "sku"
    if spec.routes and set(spec.routes) & set(contact.routes):
        return "route"
    if spec.intent and contact.intent and contact.intent != spec.intent:
        return None
    if spec.keywords:
        text = normalize_text(contact.text)
        if any(normalize_text(k) in text for k in spec.keywords if k.strip()):
            return "keyword"
    if spec.samples:
        sig = contact.signed().sig
        if any(signature_similarity(sig, signature(t)) >= similarity for t in spec.samples):
            return "text"
    return None
