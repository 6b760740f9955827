from django.urls import path

from . import views

app_name = "incidents"

urlpatterns = [
    path("incidents/", views.incident_list, name="list"),
    path("incidents/public-posts/", views.public_posts, name="public_posts"),
    path("incidents/<int:incident_id>/", views.incident_detail, name="detail"),
    path("incidents/<int:incident_id>/review/", views.incident_review, name="review"),
    path("incidents/<int:incident_id>/review.csv", views.incident_review_csv, name="review_csv"),
]
