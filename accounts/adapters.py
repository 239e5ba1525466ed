from allauth.account.adapter import DefaultAccountAdapter


class StaffAccountAdapter(DefaultAccountAdapter):
    """Staff accounts are created by admins; nobody signs up."""

    def is_open_for_signup(self, request):
        return False
