"""Install the training cases kefu ships with (kefu.training.cases) once.

Supervisors may edit or switch them off afterwards; a case already present (by key) is
left as it is.
"""

from django.db import migrations

from kefu.training.cases import BUILTIN_CASES


def load(apps, schema_editor):
    TrainingCase = apps.get_model("training", "TrainingCase")
    existing = set(TrainingCase.objects.exclude(key=None).values_list("key", flat=True))
    TrainingCase.objects.bulk_create(
        [
            TrainingCase(
                key=key,
                title=data["title"],
                category=data["category"],
                script=data,
                position=position,
            )
            for position, (key, data) in enumerate(BUILTIN_CASES.items(), start=1)
            if key not in existing
        ]
    )


def unload(apps, schema_editor):
    apps.get_model("training", "TrainingCase").objects.filter(key__in=list(BUILTIN_CASES)).delete()


class Migration(migrations.Migration):
    dependencies = [("training", "0001_initial")]

    operations = [migrations.RunPython(load, unload)]
