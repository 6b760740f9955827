from django.urls import path

from . import views

app_name = "surveys"

urlpatterns = [
    # The customer's link: no login, the signed token is the key.
    path("survey/<str:token>/", views.survey_page, name="survey_page"),
    path("desk/follow-ups/", views.follow_ups_page, name="follow_ups"),
    path("desk/follow-ups/<int:follow_up_id>/record/", views.record_follow_up, name="record_follow_up"),
    path("desk/settings/surveys/", views.settings_page, name="settings"),
]
