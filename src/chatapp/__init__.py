"""chatapp: a self-hosted chat service for the terminal."""

__version__ = "0.1.0"
