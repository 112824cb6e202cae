from django.urls import path

from apps.monitoring import views

urlpatterns = [
    path("health", views.health, name="health"),
    path("health/ready", views.ready, name="health-ready"),
    # Before django_prometheus.urls in tradebot/urls.py, so this one answers /metrics.
    path("metrics", views.metrics_view, name="metrics"),
]
