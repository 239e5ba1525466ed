from django.urls import path

from crm import views

app_name = "crm"

urlpatterns = [
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
]
