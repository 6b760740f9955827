from django.urls import path

from . import views

app_name = "customers"

urlpatterns = [
    path("customers/", views.customer_list_view, name="list"),
    path("customers/<int:customer_id>/", views.customer_profile_view, name="profile"),
    path("customers/<int:customer_id>/edit/", views.customer_edit_view, name="edit"),
    path("customers/<int:customer_id>/identities/", views.identity_add_view, name="identity_add"),
    path(
        "customers/<int:customer_id>/identities/<int:identity_id>/delete/",
        views.identity_delete_view,
        name="identity_delete",
    ),
    path("customers/<int:customer_id>/merge/", views.customer_merge_view, name="merge"),
    path("customers/<int:customer_id>/link/", views.customer_link_view, name="link"),
]
