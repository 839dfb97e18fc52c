"""Upstream credentials: static keys and key pools, how a key is presented (key_headers), AWS SigV4, and OAuth refresh tokens kept in a file so a rotated token is never lost."""
