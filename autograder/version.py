"""attnlab's version, in a module of its own: the rooms below the package root read it here, not from the root."""

__version__ = "0.1.0"
