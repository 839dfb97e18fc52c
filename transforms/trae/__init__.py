"""Trae IDE chat (`/api/ide/v1/chat`): the upstream side only. Trae is never a client
protocol and has no passthrough; its answers are always SSE, even for whole answers."""
