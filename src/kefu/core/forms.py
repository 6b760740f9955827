"""Pages' forms and the domain errors of the services they call.

A settings page validates its form with Django (Chinese messages) and then calls a
service, which may still refuse (a duplicate name, a rule only it knows). ``add_errors``
puts that refusal on the form: under the field it names when the form has that field,
else at the top, labelled with the field's Chinese name (never a raw key).
"""

from __future__ import annotations

from django import forms

from .errors import KefuError
from .labels import field_label


def add_errors(form: forms.BaseForm, exc: KefuError) -> None:
    if not exc.fields:
        form.add_error(None, exc.message)
        return
    for key, message in exc.fields.items():
        if key in form.fields:
            form.add_error(key, message)
        else:
            form.add_error(None, f"{field_label(key)}：{message}")
