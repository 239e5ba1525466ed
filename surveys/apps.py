from django.apps import AppConfig


class SurveysConfig(AppConfig):
    name = "surveys"
    verbose_name = "Surveys (NPS, CES, CSAT)"

    def ready(self):
        from surveys import home, receivers, services  # noqa: F401  (home panels; signal receivers; email personalizers)
