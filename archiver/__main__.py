"""`python -m archiver`: the command line (see archiver/cli.py), reading `./.env` first as `make run` does."""

from pathlib import Path

from dotenv import load_dotenv

from archiver.cli import main

# The one `.env` rule: variables already exported in the shell win over the file.
load_dotenv(Path(".env"), override=False)
raise SystemExit(main())
