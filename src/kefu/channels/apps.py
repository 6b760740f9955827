from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    name = "kefu.channels"
    # "channels" is the Channels library's label.
    label = "inboxes"
    verbose_name = "渠道"
