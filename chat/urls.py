from django.contrib.auth import views as auth_views
from django.urls import path

from chat import views

urlpatterns = [
    path("", views.room_list, name="chat-home"),
    path("rooms/", views.room_list, name="chat-rooms"),
    path("rooms/<slug:slug>/", views.room_page, name="chat-room"),
    path("rooms/<slug:slug>/chat/", views.room_page, {"popout": True}, name="chat-room-popout"),
    path("rooms/<slug:slug>/overlay/", views.room_overlay, name="chat-room-overlay"),
    path("api/rooms", views.api_rooms, name="chat-api-rooms"),
    path("api/rooms/<slug:slug>/messages", views.api_room_messages, name="chat-api-messages"),
    path("api/rooms/<slug:slug>/users/<str:name>", views.api_room_user, name="chat-api-user"),
    path("api/rooms/<slug:slug>/context", views.api_room_context, name="chat-api-context"),
    path("api/rooms/<slug:slug>/trends", views.api_room_trends, name="chat-api-trends"),
    path("api/rooms/<slug:slug>/moderation", views.api_room_moderation, name="chat-api-moderation"),
    path("api/rooms/<slug:slug>/reports", views.api_room_report, name="chat-api-reports"),
    path("healthz", views.healthz, name="chat-healthz"),
    path("metrics", views.metrics, name="chat-metrics"),
    path("accounts/signup/", views.signup, name="chat-signup"),
    path("accounts/login/", views.SignInView.as_view(), name="chat-login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="chat-logout"),
]
