from django.contrib import admin
from django.urls import include, path

from chat.signin import AdminSignInForm

admin.site.site_header = "chatter moderation"
admin.site.site_title = "chatter admin"
admin.site.login_form = AdminSignInForm  # throttled like the site's own sign-in

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("chat.urls")),
    path("", include("scribe.urls")),
    path("", include("memory.urls")),
    path("", include("personas.urls")),
]
