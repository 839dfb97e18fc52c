"""Upstream credentials: static keys, and OAuth refresh tokens kept in a file so a rotated token is never lost."""
