"""Anthropic Messages: the upstream side (request out, response and stream in)."""
