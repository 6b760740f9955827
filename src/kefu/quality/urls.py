from django.urls import path

from . import views

urlpatterns = [
    path("quality/", views.quality_home, name="quality"),
    path("quality/c/<int:conversation_id>/", views.conversation_quality, name="quality-conversation"),
    path("quality/rules/", views.rules_page, name="quality-rules"),
]
