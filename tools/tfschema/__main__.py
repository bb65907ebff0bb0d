"""`python -m tools.tfschema install DIR` fetches the pinned schemas; `check TF_DIR --schemas DIR` checks a config."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tools.tfschema.check import Checker, Schemas
from tools.tfschema.extract import SCHEMA_FORMAT, extract, verify_integrity
from tools.tfschema.pins import PACKAGES


def install(destination: Path) -> None:
    """Download each pinned package with npm, verify it, and keep only its extracted schema."""
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("tfschema: npm is needed to fetch the provider schemas (apt-get install npm)")
    destination.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        for package, (version, integrity) in PACKAGES.items():
            spec = f"{package}@{version}"
            # npm from PATH with the pinned package specs above: no shell, no outside input.
            result = subprocess.run(  # noqa: S603
                [npm, "pack", "--silent", "--pack-destination", scratch, spec],
                check=True,
                capture_output=True,
                text=True,
            )
            tarball = Path(scratch) / result.stdout.strip().splitlines()[-1]
            verify_integrity(tarball, integrity)
            schema = extract(tarball)
            schema["package"] = spec
            (destination / f"{schema['name']}.json").write_text(json.dumps(schema, separators=(",", ":")))
            tarball.unlink()
            print(f"tfschema: {spec} -> {schema['name']} {schema['version']}")


def load(directory: Path) -> Schemas:
    providers = {}
    for path in sorted(directory.glob("*.json")):
        schema = json.loads(path.read_text())
        if schema.get("format") != SCHEMA_FORMAT:
            raise SystemExit(
                f"tfschema: {path} was extracted by an older tfschema;"
                f" run `python -m tools.tfschema install {directory}`"
            )
        providers[schema["name"]] = schema
    if not providers:
        raise SystemExit(f"tfschema: no schemas in {directory}; run `python -m tools.tfschema install {directory}`")
    return Schemas(providers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.tfschema", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    install_cmd = commands.add_parser("install", help="fetch and extract the pinned provider schemas")
    install_cmd.add_argument("destination", type=Path)
    check_cmd = commands.add_parser("check", help="check a Terraform directory against the schemas")
    check_cmd.add_argument("directory", type=Path)
    check_cmd.add_argument("--schemas", type=Path, required=True)
    args = parser.parse_args(argv)

    if args.command == "install":
        install(args.destination)
        return 0
    schemas = load(args.schemas)
    errors = Checker(schemas).check(args.directory)
    versions = ", ".join(schemas.describe(name) for name in sorted(schemas.providers))
    for error in errors:
        print(f"{args.directory}/{error}", file=sys.stderr)
    if errors:
        print(f"tfschema: {len(errors)} error(s) against {versions}", file=sys.stderr)
        return 1
    print(f"tfschema: {args.directory} matches {versions}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
