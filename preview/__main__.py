"""``python -m preview [STACK] [--secret KEY=VALUE ...]``: offline preview of one stack."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from components.config import ConfigError
from components.stackset import StackSet, every_stack_name, locate
from components.support import warnings

from . import PROJECT_DIR, PreviewError, PreviewResult, locate_stack, preview_stack
from .engine import stack_file_config
from .schemas import SchemasUnavailable

# What a stack's preview can fail with that is the user's to fix (never a traceback).
USER_ERRORS = (ConfigError, PreviewError, SchemasUnavailable)


def demo_certificate(project_dir: Path, stack: str) -> tuple[str, str]:
    """A throwaway pair for ``*.api.<domain>`` of the stack's own platform."""
    from .democert import issue

    platform = stack_file_config(project_dir / f"Pulumi.{stack}.yaml").get("istio-envs:platform")
    domain = platform.get("domain") if isinstance(platform, dict) else None
    if not isinstance(domain, str):
        raise PreviewError(f"Pulumi.{stack}.yaml: --demo-certificate needs an owner stack with "
                           "istio-envs:platform.domain")
    return issue([f"*.api.{domain}"])


def unknown_stack(stack: str, project_dir: Path = PROJECT_DIR) -> str | None:
    """Why ``stack`` cannot be previewed from ``project_dir`` (None: it can), naming every stack
    that can: the project's own, its examples and the bootstrap backend."""
    if stack and locate(stack, project_dir) is not None:
        return None
    here = StackSet.names_in(project_dir)
    others = [name for name in every_stack_name(project_dir) if name not in here]
    return (f"no such stack {stack!r} (no Pulumi.{stack}.yaml here, in examples/ or in bootstrap/); "
            f"stacks here: {', '.join(here) or '(none)'}; examples and the backend: "
            f"{', '.join(others) or '(none)'}")


def _values(flag: str, items: list[str]) -> dict[str, str]:
    """``KEY=VALUE`` or ``KEY=@file``; a bare key gets the project namespace."""
    values = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{flag} {item.split('=')[0]!r}: expected KEY=VALUE or KEY=@file")
        if value.startswith("@"):
            try:
                value = Path(value[1:]).read_text()
            except OSError as err:
                raise ValueError(f"{flag} {key}: cannot read {value[1:]} ({err.strerror})") from None
        values[key if ":" in key else f"istio-envs:{key}"] = value
    return values


def stack_options(prog: str | None = None) -> argparse.ArgumentParser:
    """The options that give one stack its inputs (``make preview`` and ``make preview-all``'s
    per-stack flags share them)."""
    parser = argparse.ArgumentParser(prog=prog, add_help=False)
    parser.add_argument("--secret", action="append", default=[], metavar="KEY=VALUE",
                        help="stand-in for an encrypted config value, e.g. tlsPrivateKey=@key.pem "
                             "(@file reads the value from a file)")
    parser.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                        help="a plain config value, as `pulumi config set` sets it, e.g. "
                             "tlsCertificate=@fullchain.pem")
    parser.add_argument("--demo-certificate", action="store_true",
                        help="tls.source provided: use a throwaway certificate and key for "
                             "*.api.<domain>, made in memory (the examples/provided stack)")
    return parser


@dataclass(frozen=True)
class StackInputs:
    """One stack's stand-ins and overrides, as the stack options gave them."""

    secrets: dict[str, str] = field(default_factory=dict)
    overrides: dict[str, str] = field(default_factory=dict)
    demo_certificate: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> StackInputs:
        """Raises ValueError for a malformed value or an unreadable ``@file``."""
        return cls(_values("--secret", args.secret), _values("--config", args.config),
                   args.demo_certificate)

    def for_stack(self, project_dir: Path, stack: str) -> tuple[dict[str, str], dict[str, str]]:
        """(secrets, overrides) for the preview; the demo pair is made here, from the stack file."""
        secrets, overrides = dict(self.secrets), dict(self.overrides)
        if self.demo_certificate:
            chain, key = demo_certificate(project_dir, stack)
            overrides.setdefault("istio-envs:tlsCertificate", chain)
            secrets.setdefault("istio-envs:tlsPrivateKey", key)
        return secrets, overrides


def error_lines(err: BaseException) -> list[str]:
    # A ConfigError holds one line per problem: each is an error line.
    return str(err).splitlines()


def log(message: str) -> None:
    print(f"… {message}", file=sys.stderr)


def result_rows(result: PreviewResult) -> list[tuple[str, str]]:
    """What ``make preview`` prints about a preview it wrote, one (label, value) per row."""
    plan = result.plan
    counts = Counter(r["type"].split(":")[0] for r in plan["resources"])
    out = plan["outputs"]
    rows = [("stack", f"{result.stack} ({'owner' if 'clusterName' in out else 'attached' if 'platformOwner' in out else 'other'})"),
            ("resources", f"{len(plan['resources'])}: " + ", ".join(f"{n} {p}" for p, n in sorted(counts.items())))]
    rows += [(key, str(out[key])) for key in ("url", "ingressIp", "tlsMode", "audiences", "stateUrl",
                                              "secretsProvider") if key in out]
    rows += [("wrote", f"{result.out_dir}/ plan.json, summary.md, "
                       f"{len(list((result.out_dir / 'manifests').iterdir()))} manifests"),
             ("took", f"{result.seconds:.2f}s")]
    return rows


def print_rows(rows: list[tuple[str, str]]) -> None:
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make preview", description=__doc__, parents=[stack_options()])
    parser.add_argument("stack", nargs="?", default="dev", help="stack name (Pulumi.<stack>.yaml)")
    parser.add_argument("--build-dir", default=str(PROJECT_DIR / "build"))
    parser.add_argument("--project-dir", default=str(PROJECT_DIR),
                        help="folder of the stack files (default: this project)")
    parser.add_argument("--no-schemas", action="store_true",
                        help="skip the manifest schema checks")
    args = parser.parse_args(argv)
    problem = unknown_stack(args.stack, Path(args.project_dir))
    if problem:  # before any work: nothing previewed, nothing written
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        inputs = StackInputs.from_args(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    project_dir = locate_stack(args.stack, Path(args.project_dir))
    try:
        secrets, overrides = inputs.for_stack(project_dir, args.stack)
        result = preview_stack(args.stack, project_dir, Path(args.build_dir), secrets, log=log,
                               overrides=overrides, check_schemas=not args.no_schemas)
    except USER_ERRORS as err:
        print("\n".join(f"error: {line}" for line in error_lines(err)), file=sys.stderr)
        return 2
    # A row per pin near, past or without its end of support (components/support.py): what the
    # platform every stack runs on will need soon, whichever stack was previewed.
    print_rows(result_rows(result) + [("warning", line) for line in warnings(date.today())])
    return 0


if __name__ == "__main__":
    sys.exit(main())
