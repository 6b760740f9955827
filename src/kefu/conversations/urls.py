from django.urls import path

from . import views

app_name = "conversations"

urlpatterns = [
    path("", views.inbox_view, name="inbox"),
    path("c/<int:conversation_id>/", views.conversation_view, name="detail"),
    path("c/<int:conversation_id>/panels/", views.conversation_panels_view, name="panels"),
    path("c/<int:conversation_id>/export.csv", views.export_view, name="export"),
    path("files/<int:attachment_id>/", views.attachment_view, name="attachment"),
]
