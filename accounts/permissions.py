from rest_framework.permissions import DjangoModelPermissions


class RolePermissions(DjangoModelPermissions):
    pass
