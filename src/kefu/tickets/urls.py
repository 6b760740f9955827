from django.urls import path

from . import views

app_name = "tickets"

urlpatterns = [
    path("tickets/", views.ticket_list_view, name="list"),
    path("tickets/<int:ticket_id>/", views.ticket_detail_view, name="detail"),
    path(
        "tickets/from-conversation/<int:conversation_id>/",
        views.create_from_conversation_view,
        name="create_from_conversation",
    ),
    path("tickets/<int:ticket_id>/<str:action>/", views.ticket_action_view, name="action"),
    path("settings/departments/", views.settings_departments_view, name="settings_departments"),
    path(
        "settings/departments/<int:department_id>/",
        views.settings_department_edit_view,
        name="settings_department_edit",
    ),
    path("follow-ups/<int:follow_up_id>/done/", views.follow_up_done_view, name="follow_up_done"),
]
