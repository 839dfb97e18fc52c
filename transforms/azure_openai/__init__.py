"""Azure OpenAI Chat Completions: the upstream side.

OpenAI Chat on the wire, but the deployment (not the model) is in the path, with an
`api-version` query parameter, and the key goes in an `api-key` header. Answers, streams
and errors are OpenAI Chat's, read by the openai_chat codec.
"""
