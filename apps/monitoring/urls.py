from django.urls import path

from apps.monitoring import views

urlpatterns = [
    path("health", views.health, name="health"),
    path("health/ready", views.ready, name="health-ready"),
]
