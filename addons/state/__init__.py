"""What the bridge's workers share: store.py (the interface), local.py (the default), redis_store.py."""
