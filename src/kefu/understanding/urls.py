from django.urls import path

from . import views

urlpatterns = [
    path("intents/", views.intents_page, name="intents"),
    path("alerts/", views.alerts_page, name="emotion-alerts"),
]
