"""What the bridge keeps of its traffic, and what it keeps out: redacted `.flow` recordings and their
replay, whether flows can be seen while in flight, and the client secrets taken out of visible flows."""
