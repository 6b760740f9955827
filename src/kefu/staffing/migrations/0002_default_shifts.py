"""The three shifts of a Chinese service desk: 早班, 中班, 晚班 (every team; edit or add custom ones)."""

from django.db import migrations

SHIFTS = (
    ("早班", 8 * 60, 16 * 60 + 30, 11 * 60, 13 * 60 + 30),
    ("中班", 12 * 60, 20 * 60 + 30, 16 * 60 + 30, 18 * 60 + 30),
    ("晚班", 15 * 60 + 30, 24 * 60, 18 * 60 + 30, 20 * 60 + 30),
)


def add(apps, schema_editor):
    ShiftType = apps.get_model("staffing", "ShiftType")
    for name, start, end, b_start, b_end in SHIFTS:
        if not ShiftType.objects.filter(name=name, team=None).exists():
            ShiftType.objects.create(
                name=name, start_minute=start, end_minute=end, break_start_minute=b_start, break_end_minute=b_end
            )


class Migration(migrations.Migration):
    dependencies = [("staffing", "0001_initial")]
    operations = [migrations.RunPython(add, migrations.RunPython.noop)]
