"""Immutable versions of an editable definition (health models, playbook templates): a save that changed the
definition makes the next version; an unchanged save makes none."""


def new_version_if_changed(*, versions, definition: dict, actor=None):
    """`versions`: the owner's related manager of version rows (with `number`, `definition`, `created_by`).
    Returns (version, created): the latest version when its definition equals `definition`, else a new one
    numbered after it. The caller holds a lock on the owner (one number at a time) and has validated
    `definition`."""
    latest = versions.order_by("-number").first()
    if latest is not None and latest.definition == definition:
        return latest, False
    version = versions.create(
        number=(latest.number + 1) if latest else 1,
        definition=definition,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    return version, True
