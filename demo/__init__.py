"""`make demo`: see demo/run.py."""
