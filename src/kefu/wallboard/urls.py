from django.urls import path

from . import views

app_name = "wallboard"

urlpatterns = [
    path("desk/wallboard/", views.board_view, name="board"),
    path("desk/wallboard/observe/<int:conversation_id>/", views.observe_view, name="observe"),
    path("desk/settings/wallboard-displays/", views.displays_view, name="displays"),
    path(
        "desk/settings/wallboard-displays/<int:token_id>/revoke/",
        views.revoke_display_view,
        name="revoke_display",
    ),
    path("wallboard/display/<str:key>/", views.display_view, name="display"),
]
