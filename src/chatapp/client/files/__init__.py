"""Sharing files from the terminal client: safe names, progress, encryption, the transfers themselves."""
