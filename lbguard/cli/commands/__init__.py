"""One module per CLI command; shared helpers in ``common``."""
