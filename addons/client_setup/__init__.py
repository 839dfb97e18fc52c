"""Point a coding client at the bridge by editing its own configuration (issue 14, point 6).

    uv run python -m addons.client_setup CLIENT [--url URL] [--token TOKEN] [--config PATH] [--model MODEL]
                                                [--dry-run] [--undo]

CLIENT is `claude-code`, `codex`, `gemini-cli` or `opencode`; `CLIENT --help` says what each one writes.
One module per concern:

    config_file.py   the safe file handling: read, backup once, atomic write, token masking, --url checks
    formats.py       JSON, TOML (tomlkit, comments kept) and .env files behind one mapping interface
    plan.py          what setup and undo change, decided on parsed files (no I/O)
    client.py        what a client module declares: its files, folder, entries and help
    claude_code.py, codex.py, gemini_cli.py, opencode.py   one per client
    bridge_models.py the bridge's GET /v1/models, for a client whose config lists the models (opencode)
    command.py       the arguments, the run, the all-or-nothing writes

`python -m addons.claude_setup` is the same as `python -m addons.client_setup claude-code`.
"""
