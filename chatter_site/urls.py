from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "chatter moderation"
admin.site.site_title = "chatter admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("chat.urls")),
    path("", include("scribe.urls")),
    path("", include("memory.urls")),
]
