from django.urls import path

from personas import views

urlpatterns = [
    path("personas/<slug:handle>/", views.persona_page, name="personas-persona"),
]
