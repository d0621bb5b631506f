from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_out


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "Chat"

    def ready(self) -> None:
        from chat.signin import signed_out_notify

        user_logged_out.connect(signed_out_notify, dispatch_uid="chat-signed-out")
