"""Playbooks in the admin."""
