from django.urls import path

from . import views

app_name = "routing"

urlpatterns = [
    path("supervisor/", views.supervisor_view, name="supervisor"),
]
