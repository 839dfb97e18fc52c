"""OpenAI Responses API: the upstream side (request out, response and stream in)
and the client side (request in, response and stream out)."""
