"""mitmproxy glue: routing, credentials, the streaming hook-up, recording, replay.

All protocol knowledge lives in `transforms/`; these addons only move bytes
and state between mitmproxy's hooks and that library.
"""
