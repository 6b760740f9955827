"""China's public holidays and make-up working days (调休上班) as data, from the State Council's notices.

Each year's arrangement is published by 国务院办公厅 in the autumn before:

* 2025: 《国务院办公厅关于2025年部分节假日安排的通知》（国办发明电〔2024〕12号，2024年11月12日）
* 2026: 《国务院办公厅关于2026年部分节假日安排的通知》（2025年11月4日，新华社全文发布）

2027 is not here: its notice could not be checked when this list was written. Admins add
it on /desk/settings/hours/ (or ``POST /api/v1/hours/days``) once published.

The migration ``hours/0002_official_holidays`` loads these rows once; ``kefu hours
install-holidays`` adds any that are missing and never overwrites an admin's edit.
"""

from __future__ import annotations

from datetime import date, timedelta

# (name, first day off, last day off, make-up working days)
_ARRANGEMENTS: dict[int, list[tuple[str, date, date, tuple[date, ...]]]] = {
    2025: [
        ("元旦", date(2025, 1, 1), date(2025, 1, 1), ()),
        ("春节", date(2025, 1, 28), date(2025, 2, 4), (date(2025, 1, 26), date(2025, 2, 8))),
        ("清明节", date(2025, 4, 4), date(2025, 4, 6), ()),
        ("劳动节", date(2025, 5, 1), date(2025, 5, 5), (date(2025, 4, 27),)),
        ("端午节", date(2025, 5, 31), date(2025, 6, 2), ()),
        ("国庆节、中秋节", date(2025, 10, 1), date(2025, 10, 8), (date(2025, 9, 28), date(2025, 10, 11))),
    ],
    2026: [
        ("元旦", date(2026, 1, 1), date(2026, 1, 3), (date(2026, 1, 4),)),
        ("春节", date(2026, 2, 15), date(2026, 2, 23), (date(2026, 2, 14), date(2026, 2, 28))),
        ("清明节", date(2026, 4, 4), date(2026, 4, 6), ()),
        ("劳动节", date(2026, 5, 1), date(2026, 5, 5), (date(2026, 5, 9),)),
        ("端午节", date(2026, 6, 19), date(2026, 6, 21), ()),
        ("中秋节", date(2026, 9, 25), date(2026, 9, 27), ()),
        ("国庆节", date(2026, 10, 1), date(2026, 10, 7), (date(2026, 9, 20), date(2026, 10, 10))),
    ],
}

YEARS = tuple(sorted(_ARRANGEMENTS))


def official_days() -> list[tuple[date, str, str]]:
    """Every official date as ``(date, kind, name)``; kind is ``holiday`` or ``workday``."""
    days: list[tuple[date, str, str]] = []
    for arrangements in _ARRANGEMENTS.values():
        for name, first, last, workdays in arrangements:
            day = first
            while day <= last:
                days.append((day, "holiday", name))
                day += timedelta(days=1)
            days.extend((w, "workday", f"{name}调休上班") for w in workdays)
    return sorted(days)
