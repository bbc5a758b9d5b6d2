"""A project-local module: must be imported afresh by every run."""
import uuid

LOADED = uuid.uuid4().hex


class SettingsError(Exception):
    """Like components.settings.SettingsError: its message is the one line to show."""

    one_line = True
