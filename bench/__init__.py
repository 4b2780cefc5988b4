"""DesktopChat's benchmark harness: ``python -m bench`` (see bench/harness.py)."""
