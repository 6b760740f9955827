from django.urls import path

from . import views

app_name = "training"

urlpatterns = [
    path("training/", views.training_home, name="home"),
    path("training/sessions/<int:session_id>/", views.session_page, name="session"),
    path("training/team/", views.team_page, name="team"),
    path("training/cases/new/", views.case_form, name="case_new"),
    path("training/cases/<int:case_id>/edit/", views.case_form, name="case_edit"),
    path("settings/training/", views.settings_page, name="settings"),
]
