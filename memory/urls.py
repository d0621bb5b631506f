from django.urls import path

from memory.views import narratives as views_narratives, status as views_status

urlpatterns = [
    path("api/personas/<slug:handle>/narrative", views_narratives.api_persona_narrative, name="memory-api-persona-narrative"),
    path("api/viewers/<str:username>/narrative", views_narratives.api_viewer_narrative, name="memory-api-viewer-narrative"),
    path("api/memory/reflection/status", views_status.reflection_status_view, name="memory-reflection-status"),
    path("me/", views_narratives.profile_page, name="memory-profile"),
]
