"""Ticket numbers from a counter row per day instead of a scan of the day's numbers."""

from django.db import migrations, models
from django.db.models.functions import Length
from django.utils import timezone


def count_today(apps, schema_editor):
    """Today's counter starts after the numbers already given out today (an upgrade mid-day)."""
    Ticket = apps.get_model("tickets", "Ticket")
    Counter = apps.get_model("tickets", "TicketNumberCounter")
    day = timezone.localdate()
    last = (
        Ticket.objects.filter(number__startswith=f"TK-{day:%Y%m%d}-")
        .order_by(Length("number").desc(), "-number")
        .values_list("number", flat=True)
        .first()
    )
    if last:
        Counter.objects.create(day=day, last=int(last.rsplit("-", 1)[1]))


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0006_list_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="TicketNumberCounter",
            fields=[
                ("day", models.DateField(primary_key=True, serialize=False)),
                ("last", models.PositiveIntegerField(default=0)),
            ],
        ),
        migrations.RunPython(count_today, migrations.RunPython.noop),
    ]
