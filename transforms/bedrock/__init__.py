"""Amazon Bedrock InvokeModel with Anthropic models: the upstream side.

The bodies are Anthropic Messages with Bedrock's changes (the model and streaming in the
path, `anthropic_version` in the body); streams come in the AWS binary event-stream
framing, each event wrapping one Anthropic stream event. The credential is a SigV4
signature the proxy adds (addons/credentials/aws_sigv4.py).
"""
