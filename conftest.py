"""The suite's plugins are installed as the `sergas` pytest plugin (fixtures/plugin.py)."""
