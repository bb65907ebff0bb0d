"""`python -m archiver`: the command line (see archiver/cli.py)."""

from archiver.cli import main

raise SystemExit(main())
