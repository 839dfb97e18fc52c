"""The guards: what the bridge refuses before anything is routed or sent upstream.

- `listen`: no listener beyond loopback without access tokens (start-up).
- `cross_site`: the `Origin` / CORS rule and the JSON-only body rule.
- `request_body`: the size limit and bounded inflation of compressed bodies.
- `request_guard`: the addon that applies them to every request.
- `refusal`: a refusal in the envelope the caller's protocol expects.
"""
