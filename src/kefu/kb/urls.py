from django.urls import path

from . import views

urlpatterns = [
    path("help/", views.help_home, name="help"),
    path("help/a/<int:article_id>/", views.help_article, name="help-article"),
    path("desk/kb/", views.kb_list, name="kb-list"),
    path("desk/kb/new/", views.kb_edit, name="kb-new"),
    path("desk/kb/<int:article_id>/", views.kb_edit, name="kb-edit"),
    path("desk/kb/synonyms/", views.kb_synonyms, name="kb-synonyms"),
]
