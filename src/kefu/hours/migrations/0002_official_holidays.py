"""Load China's official public holidays and make-up working days (kefu.hours.holidays_cn) once.

Admins may edit or delete them afterwards; ``kefu hours install-holidays`` adds back any
official date that is missing.
"""

from django.db import migrations

from kefu.hours.holidays_cn import official_days


def load(apps, schema_editor):
    CalendarDay = apps.get_model("hours", "CalendarDay")
    existing = set(CalendarDay.objects.values_list("date", flat=True))
    CalendarDay.objects.bulk_create(
        [
            CalendarDay(date=d, kind=kind, name=name, source="official")
            for d, kind, name in official_days()
            if d not in existing
        ]
    )


def unload(apps, schema_editor):
    apps.get_model("hours", "CalendarDay").objects.filter(source="official").delete()


class Migration(migrations.Migration):
    dependencies = [("hours", "0001_initial")]

    operations = [migrations.RunPython(load, unload)]
