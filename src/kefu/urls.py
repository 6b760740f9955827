"""URL map: pages per app, the REST API under /api/v1, static and media."""

from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from kefu.api import api
from kefu.core import views as core_views

urlpatterns = [
    path("", RedirectView.as_view(url="/desk/", permanent=False)),
    # One sign-in form, rate limited and audited: the admin's own would be a second
    # door for guessing passwords of the most powerful accounts.
    path("admin/login/", RedirectView.as_view(url="/login/", permanent=False, query_string=True)),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("", include("kefu.accounts.urls")),
    path("", include("kefu.channels.urls")),
    path("desk/", include("kefu.conversations.urls")),
    path("desk/", include("kefu.routing.urls")),
    path("desk/", include("kefu.tickets.urls")),
    path("desk/", include("kefu.customers.urls")),
    path("", include("kefu.kb.urls")),
    path("desk/", include("kefu.understanding.urls")),
    path("desk/", include("kefu.replies.urls")),
    path("desk/", include("kefu.complaints.urls")),
    path("desk/", include("kefu.quality.urls")),
    path("desk/", include("kefu.sla.urls")),
    path("desk/", include("kefu.hours.urls")),
    path("", include("kefu.wallboard.urls")),
    path("desk/", include("kefu.performance.urls")),
    path("desk/", include("kefu.analytics.urls")),
    path("desk/", include("kefu.staffing.urls")),
    path("desk/", include("kefu.incidents.urls")),
    path("", include("kefu.surveys.urls")),
    path("desk/", include("kefu.bot.urls")),
    path("", include("kefu.proactive.urls")),
    path("desk/", include("kefu.training.urls")),
    re_path(r"^media/(?P<path>.*)$", core_views.media),
    # Health, readiness and Prometheus metrics of this process (docs/operations.md).
    path("", include("kefu.ops.urls")),
]

handler400 = "kefu.core.views.bad_request"
handler403 = "kefu.core.views.permission_denied"
handler404 = "kefu.core.views.page_not_found"
handler500 = "kefu.core.views.server_error"
