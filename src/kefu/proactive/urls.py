from django.urls import path

from . import views

app_name = "proactive"

urlpatterns = [
    path("desk/settings/proactive/", views.proactive_settings, name="settings"),
    path("chat/page", views.widget_page, name="widget_page"),
]
