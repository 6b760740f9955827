import django.db.models.deletion
from django.db import migrations, models


def fill_teams(apps, schema_editor):
    """Requests made before a case had a team get their conversation's team."""
    CompensationRequest = apps.get_model("complaints", "CompensationRequest")
    Conversation = apps.get_model("conversations", "Conversation")
    for request in CompensationRequest.objects.filter(team__isnull=True).iterator():
        team_id = None
        if request.conversation_id:
            team_id = Conversation.objects.filter(pk=request.conversation_id).values_list("team_id", flat=True).first()
        if team_id is None and request.complaint_id:
            team_id = (
                Conversation.objects.filter(tickets__complaint__id=request.complaint_id)
                .exclude(team=None)
                .order_by("-id")
                .values_list("team_id", flat=True)
                .first()
            )
        if team_id is not None:
            CompensationRequest.objects.filter(pk=request.pk).update(team_id=team_id)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_audit_limit_change"),
        ("complaints", "0001_initial"),
        ("conversations", "0004_event_seq"),
        ("tickets", "0002_ticket_due_warn_at_ticket_first_response_warn_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="compensationrequest",
            name="team",
            field=models.ForeignKey(
                blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to="accounts.team"
            ),
        ),
        migrations.RunPython(fill_teams, migrations.RunPython.noop),
    ]
