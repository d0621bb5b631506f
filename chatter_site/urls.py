from django.contrib import admin
from django.urls import include, path

from chat.signin import AdminSignInForm
from chatter_site.llm_admin import llm_admin_urls

admin.site.site_header = "chatter moderation"
admin.site.site_title = "chatter admin"
# The app list beside every admin page took 290 of a 1366 px window from the tables moderators
# read (rosters, memory items, narratives); the home page and breadcrumbs still lead everywhere.
admin.site.enable_nav_sidebar = False
admin.site.login_form = AdminSignInForm  # throttled like the site's own sign-in

urlpatterns = [
    *llm_admin_urls(),
    path("admin/", admin.site.urls),
    path("", include("chat.urls")),
    path("", include("scribe.urls")),
    path("", include("memory.urls")),
    path("", include("personas.urls")),
]
