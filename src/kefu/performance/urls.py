from django.urls import path

from . import views

app_name = "performance"

urlpatterns = [
    path("review/", views.review_page, name="review"),
    path("review/print/", views.review_print, name="review-print"),
    path("stars/", views.stars_page, name="stars"),
    path("stars/<int:user_id>/", views.star_agent_page, name="star-agent"),
    path("settings/stars/", views.stars_settings, name="stars-settings"),
]
