"""OpenAI Chat Completions: the client side (request in, response and stream out)
and the passthrough stream for OpenAI-compatible upstreams."""
