def roles_sync_receiver(sender, **kwargs):
    pass
