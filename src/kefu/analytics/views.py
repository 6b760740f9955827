"""Pages: 我的数据 (each agent's own figures) and the targets settings page (admins)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render

from kefu.accounts.access import AuthedRequest, check_admin


@login_required
def my_figures(request: AuthedRequest) -> HttpResponse:
    return render(request, "analytics/my_figures.html", {})


@login_required
def targets_settings(request: AuthedRequest) -> HttpResponse:
    check_admin(request.user)
    return render(request, "analytics/targets.html", {})
