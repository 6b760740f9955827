from django.apps import AppConfig


class SurveysConfig(AppConfig):
    name = "kefu.surveys"
    label = "surveys"
    verbose_name = "满意度调查与回访"
