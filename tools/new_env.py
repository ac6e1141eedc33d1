"""``make new-env ENV=qa [FROM=test] [QUOTA_CPU=1] [QUOTA_MEMORY=2Gi] [QUOTA_PODS=10]``: a new
environment stack attached to the platform owner.

Writes ``Pulumi.<env>.yaml`` with the routes, issuer and quota of a template stack (its comments
kept) and a fresh audience (``https://<env>.api.<domain>``), then previews it offline through
the real program. The template is ``Pulumi.test.yaml`` (it ships with the demo, so a new
environment starts verifiable), or the stack ``FROM=`` names; without a test stack, FROM= is
required (no other stack file is chosen for it: which one sorts first changes as stacks are added).
Refused, with one line and exit code 2: a name that is not a DNS label, a reserved namespace, a
stack file or environment name that exists, or anything the program's own validation rejects
(then the file is removed again). The preview must show no cluster-level resource.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Mapping
from pathlib import Path

from components.config import DNS_LABEL, NAMESPACE, RESERVED_NAMESPACES, ConfigError
from components.stackset import StackSet

PROJECT_DIR = Path(__file__).resolve().parent.parent
# What only an owner declares; an environment stack must show none of it.
PLATFORM_TYPES = ("gcp:container/", "gcp:compute/", "gcp:dns/managedZone", "kubernetes:helm.sh/",
                  "tls:", "istio-envs:platform:OwnedPlatform")
# The template without FROM= (README, "A verifiable environment").
DEFAULT_TEMPLATE = "test"


class NewEnvironmentError(Exception):
    pass


def _owner_and_template(stack_set: StackSet, template: str | None) -> tuple[str, Mapping, str]:
    """(owner stack reference, owner config, template stack name)."""
    files = {stack.name: stack.config for stack in stack_set}
    owners = stack_set.owners
    if not owners:
        raise NewEnvironmentError("no stack file declares istio-envs:platform; create the owner first")
    if template is None and DEFAULT_TEMPLATE not in files:
        raise NewEnvironmentError(
            f"no Pulumi.{DEFAULT_TEMPLATE}.yaml, the default template; name one with FROM=<stack>: "
            f"{', '.join(stack_set.attached or owners)}")
    template = DEFAULT_TEMPLATE if template is None else template
    if template not in files:
        raise NewEnvironmentError(f"--from {template}: no Pulumi.{template}.yaml; expected one of "
                                  f"{', '.join(sorted(files))}")
    config = files[template]
    owner = config.get(f"{NAMESPACE}:attachTo", template)
    owner = owner.rsplit("/", 1)[-1] if isinstance(owner, str) else template
    if owner not in owners:
        raise NewEnvironmentError(f"--from {template}: its owner {owner} declares no platform")
    return config.get(f"{NAMESPACE}:attachTo", owner), files[owner], template


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
    stack_set = StackSet.load(project_dir)
    taken = {stack.environment_name: stack.file_name for stack in stack_set if stack.environment_name is not None}
    if name in taken:
        raise NewEnvironmentError(f"{name!r} is already the environment of {taken[name]}")
    owner_ref, owner_config, template_name = _owner_and_template(stack_set, template)
    domain = owner_config[f"{NAMESPACE}:platform"]["domain"]
    header = (f"# Environment {name}: https://{name}.api.{domain}, attached to {owner_ref}.\n"
              f"# Written by `make new-env` from Pulumi.{template_name}.yaml: edit the routes below\n"
              f"# (Services of namespace {name}), auth and quota, then `make preview STACK={name}`.\n")
    path.write_text(header + _from_template(project_dir / f"Pulumi.{template_name}.yaml",
                                            name, owner_ref, domain, quota or {}))
    return path


def _from_template(template: Path, name: str, owner_ref: str, domain: str, quota: dict) -> str:
    """The template's ``config:`` with this environment's values, its comments kept: a
    round-trip YAML edit (ruamel.yaml), not a re-dump. The template's own header comment (it
    describes the template) is dropped for this stack's."""
    from ruamel.yaml import YAML

    lines = template.read_text().splitlines(keepends=True)
    body = "".join(lines[next(i for i, line in enumerate(lines)
                              if line.strip() and not line.lstrip().startswith("#")):])
    rt = YAML()  # round-trip: keeps comments, order and flow style
    rt.width = 100
    document = rt.load(body)
    # Only `config:` is the template's to give: `secretsprovider:` and `encryptedkey:` belong to
    # the template's own stack (its wrapped data key); copied, every new environment would share
    # it. The new stack gets its own when it is created (README, "Where state and secrets live").
    for key in [k for k in document if k != "config"]:
        del document[key]
    config = document["config"]
    config.pop(f"{NAMESPACE}:attachTo", None)
    config.insert(0, f"{NAMESPACE}:attachTo", owner_ref)
    for key in list(config):
        if key not in (f"{NAMESPACE}:attachTo", f"{NAMESPACE}:environment"):
            del config[key]  # an owner template's platform and certificates are not this stack's
    environment = config[f"{NAMESPACE}:environment"]
    environment.pop("name", None)  # the stack name is the environment name
    environment.pop("tls", None)   # client CAs are per environment: opt in explicitly
    environment.pop("egress", None)  # what it may call out to is this environment's own choice
    environment.pop("owners", None)  # who deploys here is this environment's own choice too
    audiences = environment["auth"]["audiences"]
    audiences.clear()
    audiences.append(f"https://{name}.api.{domain}")
    if quota:
        environment.setdefault("quota", {}).update(quota)
    out = io.StringIO()
    rt.dump(document, out)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make new-env", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="make new-env ENV=<name> [FROM=<stack>] [QUOTA_CPU=..] [QUOTA_MEMORY=..] [QUOTA_PODS=..]")
    parser.add_argument("name", help="ENV: environment and stack name (a DNS label)")
    parser.add_argument("--from", dest="template", help=f"FROM: template stack (default: {DEFAULT_TEMPLATE})")
    parser.add_argument("--project-dir", default=str(PROJECT_DIR))
    parser.add_argument("--build-dir", default=None)
    parser.add_argument("--quota-cpu", help="QUOTA_CPU: requests.cpu of the namespace, e.g. 1")
    parser.add_argument("--quota-memory", help="QUOTA_MEMORY: requests.memory, e.g. 2Gi")
    parser.add_argument("--quota-pods", type=int, help="QUOTA_PODS: pod count, e.g. 10")
    args = parser.parse_args(argv)
    project_dir = Path(args.project_dir)
    quota = {k: v for k, v in (("cpu", args.quota_cpu), ("memory", args.quota_memory),
                               ("pods", args.quota_pods)) if v is not None}
    try:
        path = new_environment(args.name, project_dir, args.template, quota)
    except (NewEnvironmentError, ConfigError) as err:
        print("\n".join(f"error: {line}" for line in str(err).splitlines()), file=sys.stderr)
        return 2

    from components.fleet import check as fleet_check
    from preview import PreviewError, preview_stack

    try:
        # The rules across stack files (names and audiences unique, the owner's certificate).
        problems = [p for p in fleet_check(project_dir) if p.stack_file == path.name]
        if problems:
            raise ConfigError(problems=problems)
        result = preview_stack(args.name, project_dir, Path(args.build_dir) if args.build_dir else None,
                               log=lambda message: print(f"… {message}", file=sys.stderr))
    except (ConfigError, PreviewError) as err:
        path.unlink()  # nothing half-made stays behind
        print("\n".join(f"error: {line}" for line in str(err).splitlines()), file=sys.stderr)
        print(f"error: ({path.name} not kept)", file=sys.stderr)
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
    print(NEXT_STEPS.format(name=args.name, file=path.name, summary=result.out_dir / "summary.md"))
    return 0


NEXT_STEPS = """next:
  1. edit {file}: routes (path -> Service and port in namespace {name}), auth (issuer, jwksUri,
     publicPaths; the audience is already this environment's own), quota, egress
  2. make preview STACK={name}     # and read {summary}
  3. open a pull request with {file}: its checks preview the stack and run the policy pack;
     once merged, the deploy workflow creates stack {name} with the team's secrets provider and
     runs `pulumi up` (by hand: pulumi stack init {name} --secrets-provider "$PULUMI_SECRETS_PROVIDER",
     then commit the secretsprovider/encryptedkey lines it writes into {file})"""


if __name__ == "__main__":
    sys.exit(main())
