from django.apps import AppConfig


class SurveysConfig(AppConfig):
    name = "surveys"
    verbose_name = "Surveys (NPS, CES, CSAT)"

    def ready(self):
        from surveys import receivers, services  # noqa: F401  (signal receivers; email personalizers)
