"""A SignalWire space and the processes around it, on this machine: for tests, demo, bench and `make space`."""
