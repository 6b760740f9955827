from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "kefu.conversations"
    label = "conversations"
    verbose_name = "会话"

    def ready(self) -> None:
        from kefu.core.events import register_sequencer

        from .timeline import next_event_seq

        # Events about a conversation are numbered under its row lock (core imports no
        # app, so the app registers its sequencer).
        register_sequencer(next_event_seq)
