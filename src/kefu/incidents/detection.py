"""Surge detection as plain functions: contacts in, surges out (no Django, no database).

A *contact* is one new conversation: when it started, its team, intent, the
customer's first words, and the SKUs and logistics route of the order it is about. A
*surge* is a group of contacts about the same problem — the same SKU, the same route
or warehouse, the same intent with similar text, or the same intent and an unusual
term — arriving in the last window (15 minutes by default) faster than that group's
normal level for this hour of the day, learnt from the same hour on previous days.

The term group is the coarser of the two text keys. Customers tell one new problem in
families of wording that share little but its name (「双十二红包用不了」 and
「红包付款的时候抵扣不了」 share only 「红包」): each family is its own similar-text
cluster, and none grows fast enough alone. Every two-character term of the window's
messages is a candidate group of its own, measured against how often that term is
written at this hour; an everyday word (「订单」, 「快递」) has a high normal level and
never surges, a word nobody wrote last week surges with the problem it names.

The threshold is deliberately two-sided: at least ``min_count`` contacts (a handful of
customers asking where their parcel is happens every minute) and at least ``ratio``
times the normal number for the window plus a margin (a product that always gets many
questions is not an incident). The service loads contacts and calls ``find_surges``
each worker tick; ``bench/incidents.py`` replays a day through the same function.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import lru_cache

from kefu.nlp.normalize import normalize_text
from kefu.nlp.segment import cut
from kefu.nlp.similarity import signature, signature_similarity

__all__ = [
    "Contact",
    "DetectionSettings",
    "IncidentSpec",
    "Surge",
    "find_surges",
    "match_reason",
    "names_term",
]


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
    # A term group is proposed only when it is more than one text cluster: when no text
    # surge of this run already holds this share of its members.
    term_covered: float = 0.5
    # A term is unusual when written at most this often an hour at this time of day:
    # an everyday word (「快递」) that a surge pushes up would bring every everyday
    # question into the group with it.
    rare_per_hour: float = 2.0


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
    # The unusual term a text surge of several wordings shares (「红包」); "" for a cluster.
    term: str = ""

    @property
    def count(self) -> int:
        return len(self.contacts)

    @property
    def rate_per_hour(self) -> float:
        return self.count * 60.0 / self.window_minutes

    @property
    def first_at(self) -> datetime:
        return min(c.at for c in self.contacts)

    def samples(self, n: int, *, similarity: float = 0.34) -> list[Contact]:
        """``n`` members in order of arrival, each wording before a second of the same one.

        A surge told in two families of wording shows both to the supervisor, and its
        incident matches both.
        """
        members = sorted(self.contacts, key=lambda c: (c.at, c.id))
        picked: list[Contact] = []
        for c in members:
            sig = c.signed().sig
            if all(signature_similarity(sig, p.signed().sig) < similarity for p in picked):
                picked.append(c)
                if len(picked) == n:
                    return picked
        return picked + [c for c in members if c not in picked][: n - len(picked)]

    def spec(self) -> IncidentSpec:
        """What makes a later conversation part of the incident proposed from this surge."""
        if self.kind == "sku":
            return IncidentSpec(skus=(self.label,))
        if self.kind == "route":
            return IncidentSpec(routes=(self.label,))
        if not self.term:
            # A cluster's later wordings may be everyday questions it took in (_leaders).
            first = sorted(self.contacts, key=lambda c: (c.at, c.id))[:3]
            return IncidentSpec(intent=self.intent, samples=tuple(c.text[:200] for c in first))
        # Every member of a term group names the term: each of its wordings is the problem.
        samples = tuple(c.text[:200] for c in self.samples(3))
        return IncidentSpec(intent=self.intent, samples=samples, keywords=(self.term,))


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


# Two Chinese characters: digits are folded in signatures and Latin pairs are mostly
# order-number prefixes (「YJ2026…」), neither names a problem.
_TERM_RE = re.compile(r"[\u4e00-\u9fff]{2}")


@lru_cache(maxsize=8192)
def _terms(sig: frozenset[str]) -> tuple[str, ...]:
    return tuple(gram for gram in sig if _TERM_RE.fullmatch(gram))


def _term_groups(
    contacts: Sequence[Contact], settings: DetectionSettings
) -> dict[tuple[str, str], list[Contact]]:
    """Contacts by intent and two-character term, for terms at least ``min_count`` share.

    A contact of no intent (the classifier was not sure) joins every intent's group of
    its terms: a customer who names the new problem in other words is often one of them.
    """
    groups: dict[tuple[str, str], list[Contact]] = defaultdict(list)
    unsure: dict[str, list[Contact]] = defaultdict(list)
    for c in contacts:
        for gram in _terms(c.sig):
            groups[(c.intent, gram)].append(c)
            if not c.intent:
                unsure[gram].append(c)
    for (intent, gram), members in groups.items():
        if intent and gram in unsure:
            members.extend(unsure[gram])
    return {k: v for k, v in groups.items() if len(v) >= settings.min_count}


@lru_cache(maxsize=4096)
def _words(text: str) -> frozenset[str]:
    """The words of a message (the same window's messages are read again every run)."""
    return frozenset(cut(normalize_text(text)))


def _term_word(term: str, members: Sequence[Contact]) -> tuple[str, int]:
    """The word that holds the term in most members' messages (「保温」 → 「保温杯」), and in how many.

    A term that no word holds (「包拉」 of 「背包拉链」) counts none: a group of the same size
    named by a real word (「拉链」) is preferred to it.
    """
    words: Counter[str] = Counter()
    for c in members:
        words.update(w for w in _words(c.text) if term in w)
    word, n = max(words.items(), key=lambda kv: (kv[1], -len(kv[0]), kv[0]), default=(term, 0))
    return (word, n) if n * 2 >= len(members) else (term, n)


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


def _surges(count: int, normal_per_hour: float, settings: DetectionSettings) -> bool:
    expected = normal_per_hour * settings.window_minutes / 60.0
    return count >= max(settings.min_count, expected * settings.ratio + settings.margin)


def _term_surges(
    team_id: int | None,
    contacts: Sequence[Contact],
    history: Sequence[Contact],
    hours: set[int],
    days: int,
    text_surges: list[set[int]],
    settings: DetectionSettings,
) -> list[Surge]:
    """Surges of one intent and one unusual term that are more than a text surge of this run.

    One problem names several terms (「双十」, 「十二」, 「红包」): the biggest group stands
    for it (of two as big, the one a word holds) and the others, mostly the same
    customers, are dropped. A group mostly held by
    one text surge is that surge, better told by its own wording.
    """
    found: list[Surge] = []
    for (intent, term), members in _term_groups(contacts, settings).items():

        def usual(h: Contact, intent: str = intent, term: str = term) -> bool:
            return h.intent in (intent, "") and term in h.sig

        normal = _normal_per_hour(history, hours, days, usual)
        if normal <= settings.rare_per_hour and _surges(len(members), normal, settings):
            found.append(
                Surge(
                    team_id,
                    "text",
                    f"text:{intent}:term:{term}",
                    "",
                    intent,
                    tuple(sorted(members, key=lambda c: (c.at, c.id))),
                    normal,
                    settings.window_minutes,
                    term,
                )
            )
    named = [(g, *_term_word(g.term, g.contacts)) for g in found]
    named.sort(key=lambda x: (-x[0].count, x[0].normal_per_hour, -x[2], x[0].term))
    kept: list[Surge] = []
    taken = [*text_surges]
    for g, label, _ in named:
        ids = {c.id for c in g.contacts}
        if any(len(ids & t) >= settings.term_covered * len(ids) for t in taken):
            continue
        taken.append(ids)
        kept.append(replace(g, label=label))
    return kept


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
        team_surges: list[Surge] = []
        for kind, key, label, intent, members, belongs in candidates:
            if len(members) < s.min_count:
                continue
            normal = _normal_per_hour(team_history, hours, history_days, belongs)
            if _surges(len(members), normal, s):
                team_surges.append(
                    Surge(team_id, kind, key, label, intent, tuple(members), normal, s.window_minutes)
                )
        texts = [{c.id for c in g.contacts} for g in team_surges if g.kind == "text"]
        surges += team_surges
        surges += _term_surges(team_id, contacts, team_history, hours, history_days, texts, s)
    surges.sort(key=lambda g: (-g.count, g.kind != "sku", g.kind != "route", g.key))
    return surges


def names_term(spec: IncidentSpec, surge: Surge) -> bool:
    """Whether an incident already tells the term group's problem: same intent, the term in its samples.

    A similar-text incident is proposed from its first wording; the same customers'
    later wordings do not resemble its samples, and without this their term group
    would be proposed a second time.
    """
    if not surge.term or (spec.intent and surge.intent and spec.intent != surge.intent):
        return False
    return surge.term in spec.keywords or any(surge.term in signature(t) for t in spec.samples)


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
