from django.urls import path

from . import views

urlpatterns = [
    path("complaints/", views.complaint_list, name="complaints"),
    path("complaints/open/", views.open_complaint, name="complaint-open"),
    path("complaints/<int:complaint_id>/", views.complaint_detail, name="complaint-detail"),
    path("approvals/", views.approvals, name="approvals"),
    path("promises/", views.promises_page, name="promises"),
    path("promises/<int:promise_id>/", views.promise_action, name="promise-action"),
]
