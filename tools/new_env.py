"""``make new-env ENV=qa [FROM=test]``: a new environment stack attached to the platform owner.

Writes ``Pulumi.<env>.yaml`` with the routes, issuer and quota of a template stack and a fresh
audience (``https://<env>.api.<domain>``), then previews it offline through the real program.
Refused, with one line and exit code 2: a name that is not a DNS label, a reserved namespace, a
stack file or environment name that exists, or anything the program's own validation rejects
(then the file is removed again). The preview must show no cluster-level resource.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import yaml

from components.config import DNS_LABEL, NAMESPACE, RESERVED_NAMESPACES, ConfigError, read_stack_file

PROJECT_DIR = Path(__file__).resolve().parent.parent
# What only an owner declares; an environment stack must show none of it.
PLATFORM_TYPES = ("gcp:container/", "gcp:compute/", "gcp:dns/managedZone", "kubernetes:helm.sh/",
                  "tls:", "istio-envs:platform:OwnedPlatform")


class NewEnvironmentError(Exception):
    pass


def _stack_name(path: Path) -> str:
    return path.name[len("Pulumi."):-len(".yaml")]


def _environment_names(project_dir: Path) -> dict[str, str]:
    """environment name -> stack file, for every stack file."""
    names = {}
    for path in sorted(project_dir.glob("Pulumi.*.yaml")):
        environment = read_stack_file(path).get(f"{NAMESPACE}:environment") or {}
        name = environment.get("name", _stack_name(path)) if isinstance(environment, dict) else None
        if isinstance(name, str):
            names[name] = path.name
    return names


def _owner_and_template(project_dir: Path, template: str | None) -> tuple[str, dict, dict]:
    """(owner stack, owner config, template config)."""
    files = {_stack_name(p): read_stack_file(p) for p in sorted(project_dir.glob("Pulumi.*.yaml"))}
    owners = [s for s, c in files.items() if f"{NAMESPACE}:platform" in c]
    if not owners:
        raise NewEnvironmentError("no stack file declares istio-envs:platform; create the owner first")
    if template is None:
        attached = [s for s, c in files.items() if f"{NAMESPACE}:attachTo" in c]
        template = attached[0] if attached else owners[0]
    if template not in files:
        raise NewEnvironmentError(f"--from {template}: no Pulumi.{template}.yaml; expected one of "
                                  f"{', '.join(sorted(files))}")
    config = files[template]
    owner = config.get(f"{NAMESPACE}:attachTo", template)
    owner = owner.rsplit("/", 1)[-1] if isinstance(owner, str) else template
    if owner not in owners:
        raise NewEnvironmentError(f"--from {template}: its owner {owner} declares no platform")
    return config.get(f"{NAMESPACE}:attachTo", owner), files[owner], config


def new_environment(name: str, project_dir: Path = PROJECT_DIR, template: str | None = None,
                    quota: dict | None = None) -> Path:
    """Write ``Pulumi.<name>.yaml``; returns its path. Raises NewEnvironmentError."""
    if not DNS_LABEL.match(name):
        raise NewEnvironmentError(f"{name!r} is not a DNS label (lowercase letters, digits and '-', "
                                  "starting with a letter, at most 63 characters)")
    if name in RESERVED_NAMESPACES:
        raise NewEnvironmentError(f"{name!r} is a reserved namespace of the cluster or the mesh; "
                                  "choose another name")
    path = project_dir / f"Pulumi.{name}.yaml"
    if path.exists():
        raise NewEnvironmentError(f"{path.name} already exists")
    taken = _environment_names(project_dir)
    if name in taken:
        raise NewEnvironmentError(f"{name!r} is already the environment of {taken[name]}")
    owner_ref, owner_config, template_config = _owner_and_template(project_dir, template)
    domain = owner_config[f"{NAMESPACE}:platform"]["domain"]

    environment = copy.deepcopy(template_config[f"{NAMESPACE}:environment"])
    environment.pop("name", None)  # the stack name is the environment name
    environment.pop("tls", None)   # client CAs are per environment: opt in explicitly
    environment["auth"]["audiences"] = [f"https://{name}.api.{domain}"]
    if quota:
        environment["quota"] = {**environment.get("quota", {}), **quota}
    document = {"config": {f"{NAMESPACE}:attachTo": owner_ref, f"{NAMESPACE}:environment": environment}}
    header = (f"# Environment {name}: https://{name}.api.{domain}, attached to {owner_ref}.\n"
              f"# Written by `make new-env`; routes and issuer copied from the template stack.\n")
    path.write_text(header + yaml.safe_dump(document, sort_keys=False))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make new-env", description=__doc__)
    parser.add_argument("name", help="environment and stack name (a DNS label)")
    parser.add_argument("--from", dest="template", help="template stack (default: an attached stack)")
    parser.add_argument("--project-dir", default=str(PROJECT_DIR))
    parser.add_argument("--build-dir", default=None)
    parser.add_argument("--quota-cpu")
    parser.add_argument("--quota-memory")
    parser.add_argument("--quota-pods", type=int)
    args = parser.parse_args(argv)
    project_dir = Path(args.project_dir)
    quota = {k: v for k, v in (("cpu", args.quota_cpu), ("memory", args.quota_memory),
                               ("pods", args.quota_pods)) if v is not None}
    try:
        path = new_environment(args.name, project_dir, args.template, quota)
    except (NewEnvironmentError, ConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    from preview import PreviewError, preview_stack

    try:
        result = preview_stack(args.name, project_dir, Path(args.build_dir) if args.build_dir else None,
                               log=lambda message: print(f"… {message}", file=sys.stderr))
    except (ConfigError, PreviewError) as err:
        path.unlink()  # nothing half-made stays behind
        print(f"error: {err} ({path.name} not kept)", file=sys.stderr)
        return 2
    platform = sorted({r["type"] for r in result.plan["resources"] if r["type"].startswith(PLATFORM_TYPES)})
    if platform:
        path.unlink()
        print(f"error: {path.name} would declare platform resources ({', '.join(platform)}); not kept",
              file=sys.stderr)
        return 2
    print(f"wrote {path.name}: https://{result.plan['outputs']['host']}, audience "
          f"{result.plan['outputs']['audiences'][0]}, {len(result.plan['resources'])} resources, "
          "no cluster-level resource")
    print(f"next: pulumi stack init {args.name} && pulumi up   (review {result.out_dir}/summary.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
