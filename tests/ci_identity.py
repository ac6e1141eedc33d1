"""What Google Cloud does with a GitHub Actions token, from the bootstrap's offline preview: the
provider's attribute mapping and condition (CEL, evaluated by the cel crate as IAM evaluates them),
then the service accounts whose ``roles/iam.workloadIdentityUser`` member matches the mapped
attributes. Also the IAM-condition CEL the bootstrap writes (``resource.name``, ``api``)."""

from __future__ import annotations

from typing import Any

from conftest import ROOT, of_type, one

from preview.crds import _cel

REPOSITORY, REPOSITORY_ID, OWNER_ID = "acme/istio-envs", "812345678", "98765432"


def backend_plan(build_dir) -> dict:
    import json

    from preview import preview_stack

    cached = build_dir / "backend" / "plan.json"
    if cached.exists():
        return json.loads(cached.read_text())
    return preview_stack("backend", ROOT / "bootstrap", build_dir).plan


def cel_eval(expression: str, variables: dict[str, Any], functions: dict | None = None) -> Any:
    cel, _ = _cel()
    context = cel.Context()
    for name, value in variables.items():
        context.add_variable(name, value)
    for name, function in (functions or {}).items():
        context.add_function(name, function)
    return cel.compile(expression).execute(context)


def iam_condition(expression: str, resource_name: str = "", modified_roles: list[str] | None = None) -> bool:
    """An IAM condition: ``resource.name`` and ``api.getAttribute`` with ``hasOnly``."""
    attributes = {"iam.googleapis.com/modifiedGrantsByRole": modified_roles or []}
    return cel_eval(expression, {"resource": {"name": resource_name}, "api": attributes}, {
        "getAttribute": lambda api, key, default: api.get(key, default),
        "hasOnly": lambda values, allowed: all(v in allowed for v in values)})


def claims(event: str, ref: str, environment: str | None = None, repository: str = REPOSITORY,
           repository_id: str = REPOSITORY_ID, owner_id: str = OWNER_ID) -> dict[str, str]:
    """The claims of a job's token (GitHub: "About security hardening with OpenID Connect"): its
    ``sub`` is the environment's when the job names one, else ``pull_request`` for pull-request
    events, else the ref."""
    if environment:
        sub = f"repo:{repository}:environment:{environment}"
    elif event in ("pull_request", "pull_request_target"):
        sub = f"repo:{repository}:pull_request"
    else:
        sub = f"repo:{repository}:ref:{ref}"
    token = {"sub": sub, "ref": ref, "repository": repository, "repository_id": repository_id,
             "repository_owner": repository.split("/")[0], "repository_owner_id": owner_id,
             "event_name": event, "ref_type": "branch" if ref.startswith("refs/heads/") else "",
             "aud": "https://iam.googleapis.com/...", "iss": "https://token.actions.githubusercontent.com"}
    if environment:
        token["environment"] = environment
    return token


def federation(plan: dict) -> tuple[dict, list[tuple[str, str]]]:
    """(the provider's inputs, [(service account email, member)] of the federation bindings)."""
    provider = one(plan, "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider")["inputs"]
    bindings = [(r["inputs"]["serviceAccountId"].rsplit("/", 1)[-1], r["inputs"]["member"])
                for r in of_type(plan, "gcp:serviceaccount/iAMMember:IAMMember")
                if r["inputs"]["role"] == "roles/iam.workloadIdentityUser"]
    return provider, bindings


def impersonable(plan: dict, token: dict[str, str]) -> set[str]:
    """The service accounts a job holding ``token`` can impersonate (empty when the provider
    refuses the token)."""
    provider, bindings = federation(plan)
    mapped = {key: cel_eval(expression, {"assertion": token})
              for key, expression in provider["attributeMapping"].items()}
    attributes = {k.removeprefix("attribute."): v for k, v in mapped.items() if k.startswith("attribute.")}
    google = {k.removeprefix("google."): v for k, v in mapped.items() if k.startswith("google.")}
    if not cel_eval(provider["attributeCondition"], {"assertion": token, "attribute": attributes,
                                                     "google": google}):
        return set()
    found = set()
    for email, member in bindings:
        kind, _, rest = member.partition("://iam.googleapis.com/")
        selector = rest.split("/", 6)[-1]  # after projects/N/locations/global/workloadIdentityPools/P/
        if kind == "principalSet" and selector.startswith("attribute."):
            name, _, value = selector.removeprefix("attribute.").partition("/")
            if attributes.get(name) == value:
                found.add(email)
        elif kind == "principal" and selector == f"subject/{google.get('subject')}":
            found.add(email)
    return found
