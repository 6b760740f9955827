from django.urls import path

from . import views

urlpatterns = [
    path("intents/", views.intents_page, name="intents"),
    path("alerts/", views.alerts_page, name="emotion-alerts"),
    path("alerts/<int:alert_id>/ack", views.acknowledge_alert, name="emotion-alert-ack"),
]
