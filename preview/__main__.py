"""``python -m preview [STACK] [--secret KEY=VALUE ...]``: offline preview of one stack."""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from components.config import ConfigError

from . import PROJECT_DIR, PreviewError, preview_stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make preview", description=__doc__)
    parser.add_argument("stack", nargs="?", default="dev", help="stack name (Pulumi.<stack>.yaml)")
    parser.add_argument("--build-dir", default=str(PROJECT_DIR / "build"))
    parser.add_argument("--project-dir", default=str(PROJECT_DIR),
                        help="folder of the stack files (default: this project)")
    parser.add_argument("--secret", action="append", default=[], metavar="KEY=VALUE",
                        help="stand-in for an encrypted config value, e.g. istio-envs:tlsPrivateKey=...")
    args = parser.parse_args(argv)
    secrets = {}
    for item in args.secret:
        key, sep, value = item.partition("=")
        if not sep:
            print(f"error: --secret {item!r}: expected KEY=VALUE", file=sys.stderr)
            return 2
        secrets[key] = value

    from pathlib import Path

    try:
        result = preview_stack(args.stack, Path(args.project_dir), Path(args.build_dir), secrets,
                               log=lambda message: print(f"… {message}", file=sys.stderr))
    except (ConfigError, PreviewError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    plan = result.plan
    counts = Counter(r["type"].split(":")[0] for r in plan["resources"])
    out = plan["outputs"]
    print(f"stack {result.stack}: {len(plan['resources'])} resources "
          f"({', '.join(f'{n} {p}' for p, n in sorted(counts.items()))}) in {result.seconds:.2f}s")
    for key in ("url", "ingressIp", "namespace", "audiences"):
        if key in out:
            print(f"  {key:<10} {out[key]}")
    print(f"  wrote      {result.out_dir}/plan.json, summary.md, "
          f"{len(list((result.out_dir / 'manifests').iterdir()))} manifests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
