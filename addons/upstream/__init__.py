"""The upstream call and its transport."""
