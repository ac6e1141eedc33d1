"""The team backend (bootstrap/): a private, versioned, protected state bucket and a rotating KMS
key for stack secrets, and the CI identities with what each may do, previewed offline like the
environment stacks. Conditions are CEL: they are evaluated here (tests/ci_identity.py), not read."""

from __future__ import annotations

import json
import sys

import pytest
import yaml
from ci_identity import backend_plan, cel_eval, iam_condition
from conftest import ATTACHED_STACKS, OWNER, ROOT, of_type, one

from components.stackset import StackSet, stack_folders
from preview import locate_stack
from preview.engine import run_program
from tools.ci import platform_stacks

BOOTSTRAP = ROOT / "bootstrap"
sys.path.insert(0, str(BOOTSTRAP))
import ci_identities  # noqa: E402
import platform_access  # noqa: E402

STATE = "projects/_/buckets/acme-nonprod-pulumi-state/objects/.pulumi"


@pytest.fixture(scope="module")
def backend(build_dir):
    assert locate_stack("backend") == BOOTSTRAP
    return backend_plan(build_dir)


def with_owners(attached_only: bool = False) -> bool:
    """Whether any stack file (the project's or an example's) lists environment owners: what the
    owners' grants are for. An owner may delete or edit the one that ships with them (uat)."""
    return any(stack.environment.get("owners") for folder in stack_folders(ROOT)
               for stack in StackSet.load(folder) if not (attached_only and stack.is_owner))


def emails(plan) -> dict[str, str]:
    return plan["outputs"]["serviceAccounts"]


def grants(plan, typ: str, email: str) -> dict[str, dict]:
    """role -> inputs of the bindings of ``typ`` for one service account."""
    return {r["inputs"]["role"]: r["inputs"] for r in of_type(plan, typ)
            if r["inputs"]["member"] == f"serviceAccount:{email}"}


def test_state_bucket_is_private_versioned_bounded_and_protected(backend):
    bucket = one(backend, "gcp:storage/bucket:Bucket")
    inputs = bucket["inputs"]
    assert inputs["uniformBucketLevelAccess"] is True
    assert inputs["publicAccessPrevention"] == "enforced"
    assert inputs["versioning"] == {"enabled": True}
    (rule,) = inputs["lifecycleRules"]
    assert rule["action"] == {"type": "Delete"}
    assert rule["condition"] == {"numNewerVersions": 20, "withState": "ARCHIVED"}
    assert inputs["forceDestroy"] is False
    assert bucket["protect"] is True
    # No IAM binding opens it: nothing grants allUsers or allAuthenticatedUsers.
    assert not [r for r in backend["resources"] if "allUsers" in str(r["inputs"])
                or "allAuthenticatedUsers" in str(r["inputs"])]


def test_secrets_keys_rotate_and_are_protected(backend):
    keys = of_type(backend, "gcp:kms/cryptoKey:CryptoKey")
    assert sorted(k["inputs"]["name"] for k in keys) == ["environment-secrets", "preview-environment-secrets",
                                                          "stack-secrets"]
    for key in keys:
        assert key["inputs"]["purpose"] == "ENCRYPT_DECRYPT"
        assert key["inputs"]["rotationPeriod"] == f"{90 * 86400}s"
        assert key["protect"]
    assert one(backend, "gcp:kms/keyRing:KeyRing")["protect"]


IDENTITIES = {"preview", "platform", "environments", "preview-environments"}


def test_outputs_are_everything_the_workflows_and_stack_init_take(backend):
    outputs = backend["outputs"]
    assert outputs["stateUrl"] == "gs://acme-nonprod-pulumi-state"
    ring = "gcpkms://projects/acme-nonprod/locations/us-central1/keyRings/pulumi/cryptoKeys/"
    assert outputs["secretsProvider"] == ring + "stack-secrets"
    assert outputs["secretsProviders"] == {"owners": ring + "stack-secrets", "environments": ring + "environment-secrets",
                                           "preview-environments": ring + "preview-environment-secrets"}
    provider = one(backend, "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider")
    assert outputs["workloadIdentityProvider"] == (
        "projects/000000000000/locations/global/workloadIdentityPools/github/providers/github-actions")
    assert provider["inputs"]["workloadIdentityPoolProviderId"] == "github-actions"
    assert set(emails(backend)) == IDENTITIES
    assert outputs["githubVariables"] == {
        "repository": {"PULUMI_BACKEND_URL": outputs["stateUrl"], "PULUMI_SECRETS_PROVIDER": ring + "stack-secrets",
                       "PULUMI_ENVIRONMENT_SECRETS_PROVIDER": ring + "environment-secrets",
                       "PULUMI_PREVIEW_ENVIRONMENT_SECRETS_PROVIDER": ring + "preview-environment-secrets",
                       "GCP_WORKLOAD_IDENTITY_PROVIDER": outputs["workloadIdentityProvider"],
                       "GCP_PREVIEW_SERVICE_ACCOUNT": emails(backend)["preview"],
                       "BLOCKING_RISKS": "protected-delete",
                       "PLATFORM_STACKS": json.dumps(platform_stacks(StackSet.load(ROOT)))},
        "platform": {"GCP_PLATFORM_SERVICE_ACCOUNT": emails(backend)["platform"]},
        "environments": {"GCP_ENVIRONMENTS_SERVICE_ACCOUNT": emails(backend)["environments"]},
        "preview-environments": {"GCP_PREVIEW_ENVIRONMENTS_SERVICE_ACCOUNT": emails(backend)["preview-environments"]}}


def test_the_pool_admits_github_tokens_of_one_repository(backend):
    provider = one(backend, "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider")["inputs"]
    assert provider["oidc"] == {"issuerUri": "https://token.actions.githubusercontent.com"}
    assert provider["attributeMapping"]["google.subject"] == "assertion.sub"
    pool = one(backend, "gcp:iam/workloadIdentityPool:WorkloadIdentityPool")["inputs"]
    assert provider["workloadIdentityPoolId"] == pool["workloadIdentityPoolId"] == "github"
    # Each binding: principal sets of this pool (tests/test_workflows.py runs tokens through them).
    members: dict[str, set[str]] = {}
    for r in of_type(backend, "gcp:serviceaccount/iAMMember:IAMMember"):
        if r["inputs"]["role"] == "roles/iam.workloadIdentityUser":
            members.setdefault(r["inputs"]["serviceAccountId"].rsplit("/", 1)[-1], set()).add(r["inputs"]["member"])
    pool_name = "principalSet://iam.googleapis.com/projects/000000000000/locations/global/workloadIdentityPools/github"
    assert members == {
        emails(backend)["preview"]: {f"{pool_name}/attribute.trigger/main", f"{pool_name}/attribute.trigger/pull_request"},
        emails(backend)["platform"]: {f"{pool_name}/attribute.environment/platform"},
        emails(backend)["environments"]: {f"{pool_name}/attribute.environment/environments"},
        emails(backend)["preview-environments"]: {f"{pool_name}/attribute.environment/preview-environments"}}


def test_each_identity_holds_its_roles_and_no_other(backend):
    acme = any(StackSet.load(ROOT)[o].config["istio-envs:platform"].get("tls", {}).get("source") == "acme"
               for o in StackSet.load(ROOT).owners)
    for identity, expected in ((i, x.roles) for i, x in ci_identities.IDENTITIES.items()):
        got = grants(backend, "gcp:projects/iAMMember:IAMMember", emails(backend)[identity])
        extra = {"roles/resourcemanager.projectIamAdmin"} | ({"roles/iam.roleAdmin"} if acme else set()) \
            if identity == "platform" else set()
        assert set(got) == {g.role for g in expected} | extra, identity
        assert all(g.why for g in expected)
    # No identity holds a service-account or role-administration role on the project.
    project_roles = {r["inputs"]["role"] for r in of_type(backend, "gcp:projects/iAMMember:IAMMember")}
    assert not project_roles & {"roles/iam.serviceAccountAdmin", "roles/iam.serviceAccountUser",
                                "roles/iam.serviceAccountTokenCreator", "roles/iam.serviceAccountKeyAdmin"}
    preview_roles = {g.role for g in ci_identities.IDENTITIES["preview"].roles}
    assert all(role.endswith((".viewer", ".reader")) for role in preview_roles)
    keys = {r["urn"].rsplit("::", 1)[-1]: r["inputs"]["name"] for r in of_type(backend, "gcp:kms/cryptoKey:CryptoKey")}
    by_id = {f"projects/acme-nonprod/locations/us-central1/keyRings/pulumi/cryptoKeys/{name}": name
             for name in keys.values()}
    kms = {identity: {(by_id.get(r["inputs"]["cryptoKeyId"], r["inputs"]["cryptoKeyId"]), r["inputs"]["role"])
                      for r in of_type(backend, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
                      if r["inputs"]["member"] == f"serviceAccount:{email}"}
           for identity, email in emails(backend).items()}
    d, e = "roles/cloudkms.cryptoKeyDecrypter", "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    assert kms == {"preview": {("stack-secrets", d), ("environment-secrets", d)},
                   "platform": {("stack-secrets", d), ("environment-secrets", e)},
                   "environments": {("stack-secrets", d), ("environment-secrets", e)},
                   # Not the attached stacks' key: a pull request's code never opens test's or uat's.
                   "preview-environments": {("stack-secrets", d), ("preview-environment-secrets", e)}}
    bucket = {identity: set(grants(backend, "gcp:storage/bucketIAMMember:BucketIAMMember", email))
              for identity, email in emails(backend).items()}
    assert bucket == {"preview": {"roles/storage.objectViewer"},
                      **{i: {"roles/storage.objectViewer", "roles/storage.objectUser"} for i in IDENTITIES - {"preview"}}}


def test_preview_identity_reads_what_a_preview_looks_up(plans, example_plans):
    """Every invoke a preview makes (data sources) is within the preview identity's read roles."""
    reads = {"gcp:dns/": "roles/dns.reader", "gcp:container/": "roles/container.viewer"}
    held = {g.role for g in ci_identities.IDENTITIES["preview"].roles}
    tokens = {i["token"] for plan in {**plans, **example_plans}.values() for i in plan["invokes"]}
    assert tokens
    for token in tokens:
        (role,) = [role for prefix, role in reads.items() if token.startswith(prefix)]
        assert role in held, token


def test_platform_identity_grants_the_owner_stacks_roles_and_no_other(backend, plans, example_plans):
    owners = [plan for plan in {**plans, **example_plans}.values()
              if of_type(plan, "gcp:container/cluster:Cluster")]
    granted = {r["inputs"]["role"] for plan in owners for r in of_type(plan, "gcp:projects/iAMMember:IAMMember")}
    # Every role delegated is one an owner stack grants: the environment owners' only while some
    # stack file lists owners.
    from components.platform import OWNER_IAM_ROLE

    unused = set() if with_owners() else {OWNER_IAM_ROLE}
    assert granted == set(ci_identities.DELEGATED_PROJECT_ROLES) - unused
    admin = grants(backend, "gcp:projects/iAMMember:IAMMember", emails(backend)["platform"])[
        "roles/resourcemanager.projectIamAdmin"]
    expression = admin["condition"]["expression"]
    assert iam_condition(expression, modified_roles=sorted(granted))
    assert not iam_condition(expression, modified_roles=["roles/owner"])
    assert not iam_condition(expression, modified_roles=["roles/container.defaultNodeServiceAccount",
                                                         "roles/iam.workloadIdentityUser"])


def test_platform_identity_acts_only_as_the_owners_own_accounts(backend, plans, example_plans):
    """actAs and account administration are granted on the accounts the owner stack creates (their
    ids as the owner's preview declares them), never on the project: it can run nodes as the node
    account and bind cert-manager to the DNS-01 account, and become no other account."""
    config = yaml.safe_load((BOOTSTRAP / "Pulumi.backend.yaml").read_text())["config"]
    (entry,) = config["istio-envs-bootstrap:platforms"]
    owner = plans[entry["stack"]]
    declared = {r["inputs"]["accountId"] for r in of_type(owner, "gcp:serviceaccount/account:Account")}
    assert platform_access.node_account_id(entry["cluster"]) in declared
    acme = next(p for p in example_plans.values() if of_type(p, "gcp:container/cluster:Cluster")
                and "dns01" in str([r["inputs"].get("accountId") for r in of_type(p, "gcp:serviceaccount/account:Account")]))
    cluster = one(acme, "gcp:container/cluster:Cluster")["inputs"]["name"]
    assert platform_access.dns01_account_id(cluster) in {
        r["inputs"]["accountId"] for r in of_type(acme, "gcp:serviceaccount/account:Account")}
    on_accounts = {(r["inputs"]["serviceAccountId"].rsplit("/", 1)[-1].split("@")[0], r["inputs"]["role"])
                   for r in of_type(backend, "gcp:serviceaccount/iAMMember:IAMMember")
                   if r["inputs"]["member"] == f"serviceAccount:{emails(backend)['platform']}"}
    expected = {(platform_access.node_account_id(entry["cluster"]), "roles/iam.serviceAccountUser")}
    if ci_identities.ACME_ROLE.role in grants(backend, "gcp:projects/iAMMember:IAMMember", emails(backend)["platform"]):
        expected.add((platform_access.dns01_account_id(entry["cluster"]), "roles/iam.serviceAccountAdmin"))
    assert on_accounts == expected


def writer(backend, identity: str) -> str:
    return grants(backend, "gcp:storage/bucketIAMMember:BucketIAMMember", emails(backend)[identity])[
        "roles/storage.objectUser"]["condition"]["expression"]


def stack_objects(stack: str, project: str = "istio-envs") -> list[str]:
    """Every object the DIY backend writes for one stack (pulumi/pulumi pkg/backend/diy)."""
    return [f"{STATE}/stacks/{project}/{stack}.json", f"{STATE}/stacks/{project}/{stack}.json.bak",
            f"{STATE}/stacks/{project}/{stack}.json.gz", f"{STATE}/history/{project}/{stack}/{stack}-1.history.json",
            f"{STATE}/backups/{project}/{stack}/{stack}.1.json", f"{STATE}/locks/organization/{project}/{stack}/1.json"]


def test_each_identity_writes_exactly_its_own_stacks_state(backend):
    """Allow-lists, from the stack files: the platform identity the owner and MUTUAL stacks; the
    per-pull-request identity pr-* stacks; the environment identity the program's other stacks.
    Nobody writes .pulumi/meta.yaml, another project's state or the bootstrap's."""
    stacks = StackSet.load(ROOT)
    platform = platform_stacks(stacks)
    assert platform and set(stacks.owners) <= set(platform)
    attached = [s for s in stacks.attached if s not in platform]
    cases = {"platform": platform, "environments": [*attached, "qa", "devops"], "preview-environments": ["pr-7", "pr-1234"]}
    nobody = [f"{STATE}/meta.yaml", "projects/_/buckets/acme-nonprod-pulumi-state", *stack_objects("backend",
              "istio-envs-bootstrap"), f"{STATE}/stacks/other-project/x.json", "projects/_/buckets/other/objects/x"]
    for identity, own in cases.items():
        expression = writer(backend, identity)
        for stack in own:
            assert all(iam_condition(expression, resource_name=n) for n in stack_objects(stack)), (identity, stack)
        others = [s for i, names in cases.items() if i != identity for s in names]
        for stack in others:
            assert not any(iam_condition(expression, resource_name=n) for n in stack_objects(stack)), (identity, stack)
        assert not any(iam_condition(expression, resource_name=n) for n in nobody), identity


def test_a_mutual_stack_is_the_platform_identitys_alone(tmp_path):
    """The confused deputy: were a MUTUAL stack's state writable by the environment identity, the
    platform identity would apply what it planted. Derived from the files, not from `platforms`."""
    ownership = ci_identities.StackOwnership(platform=("mtls", "partner"), acme=False)
    bucket = "b"
    env = ci_identities.writable_condition("environments", bucket, ownership)
    plat = ci_identities.writable_condition("platform", bucket, ownership)
    partner = f"projects/_/buckets/{bucket}/objects/.pulumi/stacks/istio-envs/partner.json"
    web = f"projects/_/buckets/{bucket}/objects/.pulumi/stacks/istio-envs/web.json"
    assert not iam_condition(env, resource_name=partner) and iam_condition(plat, resource_name=partner)
    assert iam_condition(env, resource_name=web) and not iam_condition(plat, resource_name=web)
    assert platform_stacks(StackSet.load(ROOT / "examples" / "mutual")) == ["mtls", "partner"]


# --- the environment identity on the owner's platform -----------------------------------------------

def plural(kind: str) -> str:
    return kind.lower()[:-1] + "ies" if kind.endswith("y") else kind.lower() + "s"


def manifests(plan) -> list[dict]:
    return [r["inputs"] for r in plan["resources"]
            if r["type"].startswith("kubernetes:") and not r["type"].startswith("kubernetes:helm")
            and "providers" not in r["type"]]


def confined(plan) -> bool:
    """The attached stack writes only into its own namespace (and the namespace itself)."""
    namespace = plan["outputs"]["namespace"]
    return all(m["metadata"].get("namespace") in (None, namespace) for m in manifests(plan))


def test_the_cluster_role_grants_exactly_what_attached_stacks_write(backend, plans, example_plans):
    written = {(m["apiVersion"].rpartition("/")[0], plural(m["kind"]))
               for plan in [plans[s] for s in ATTACHED_STACKS] + [p for p in example_plans.values()
                                                                    if "platformOwner" in p["outputs"]]
               if confined(plan) for m in manifests(plan)}
    assert written <= set(platform_access.ENVIRONMENT_RESOURCES)
    # Egress entries: written by attached stacks that declare egress (the owner's own shows the
    # kind); the owners' RoleBinding by attached stacks that list owners (uat as shipped).
    unwritten = {("networking.istio.io", "serviceentries"),
                 *([] if with_owners(attached_only=True) else [("rbac.authorization.k8s.io", "rolebindings")])}
    assert set(platform_access.ENVIRONMENT_RESOURCES) - written <= unwritten
    role = one(backend, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole")["inputs"]
    granted = {(group, resource) for rule in role["rules"] if rule["verbs"] != ["bind"]
               for group in rule["apiGroups"] for resource in rule["resources"]}
    assert granted == set(platform_access.ENVIRONMENT_RESOURCES)
    # Binding owners to their role (the owner stack's, components/tenancy.py) needs `bind` on that
    # one ClusterRole, and nothing wider.
    from components.tenancy import OWNER_CLUSTER_ROLE

    (bind,) = [rule for rule in role["rules"] if rule["verbs"] == ["bind"]]
    assert bind == {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"],
                    "resourceNames": [OWNER_CLUSTER_ROLE], "verbs": ["bind"]}
    bindings = {b["inputs"]["subjects"][0]["name"]: b
                for b in of_type(backend, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding")}
    assert set(bindings) == {emails(backend)["environments"], emails(backend)["preview-environments"]}
    binding = bindings[emails(backend)["environments"]]
    assert binding["inputs"]["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                                              "name": emails(backend)["environments"]}]
    # The rights exist only once the confinement does.
    confinement = next(r for r in of_type(backend, "admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding")
                       if r["inputs"]["metadata"]["name"] == "istio-envs-environment-deployer")
    assert confinement["urn"] in binding["dependencies"]


def test_only_mutual_environments_write_into_the_gateway_namespace(example_plans):
    """The rule deploy.yml and destroy-environment.yml route by: MUTUAL -> platform identity."""
    from components.stackset import StackSet

    # An owner reads its own last deployment through a StackReference too: attached stacks are
    # the ones that name their owner.
    attached = {name: plan for name, plan in example_plans.items() if "platformOwner" in plan["outputs"]}
    stack_files = {s.name: s for s in StackSet.load(ROOT / "examples" / "mutual")}
    for name, plan in attached.items():
        if name in stack_files:
            tls = stack_files[name].environment.get("tls")
            assert (isinstance(tls, dict) and tls.get("mode") == "MUTUAL") is (not confined(plan)), name
    assert not confined(attached["partner"]) and confined(attached["web"])


class Admission:
    """The ValidatingAdmissionPolicy as the API server applies it: match condition, variables in
    order, every validation; an evaluation error denies (failurePolicy: Fail)."""

    def __init__(self, plan):
        self.spec = next(r for r in of_type(plan, "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy")
                         if r["inputs"]["metadata"]["name"] == "istio-envs-environment-deployer")["inputs"]["spec"]
        assert self.spec["failurePolicy"] == "Fail"

    def allows(self, user: str, operation: str, obj: dict | None, old: dict | None = None,
               namespace_object: dict | None = None) -> bool:
        target = obj if obj is not None else old
        assert target is not None
        group, _, version = target["apiVersion"].rpartition("/")
        namespaced = target["kind"] != "Namespace" and target["metadata"].get("namespace")
        request = {"operation": operation, "namespace": target["metadata"].get("namespace", "")
                   if namespaced else (target["metadata"]["name"] if target["kind"] == "Namespace" else ""),
                   "resource": {"group": group, "version": version, "resource": plural(target["kind"])},
                   "userInfo": {"username": user}}
        scope = {"request": request, "object": obj, "oldObject": old, "namespaceObject": namespace_object}
        if not all(cel_eval(m["expression"], scope) for m in self.spec["matchConditions"]):
            return True
        try:
            variables: dict = {}
            for variable in self.spec["variables"]:
                variables[variable["name"]] = cel_eval(variable["expression"], {**scope, "variables": variables})
            return all(cel_eval(v["expression"], {**scope, "variables": variables}) is True
                       for v in self.spec["validations"])
        except Exception:
            return False


def namespace(name: str, labelled: bool = True) -> dict:
    labels = {"istio-envs/environment": name} if labelled else {}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def test_the_admission_policy_lets_attached_stacks_do_their_whole_job(backend, plans, example_plans):
    admission, user = Admission(backend), emails(backend)["environments"]
    attached = [plans[s] for s in ATTACHED_STACKS] + [example_plans["web"]]
    for plan in attached:
        objects = manifests(plan)
        (ns,) = [m for m in objects if m["kind"] == "Namespace"]
        for m in objects:
            inside = None if m["kind"] == "Namespace" else ns
            assert admission.allows(user, "CREATE", m, namespace_object=inside), m["metadata"]
            assert admission.allows(user, "UPDATE", m, m, namespace_object=inside), m["metadata"]
            assert admission.allows(user, "DELETE", None, m, namespace_object=inside), m["metadata"]


def test_the_admission_policy_keeps_the_environment_identity_out_of_everything_else(backend, example_plans):
    admission, user = Admission(backend), emails(backend)["environments"]
    partner = manifests(example_plans["partner"])
    gateway_namespace = namespace("istio-ingress", labelled=False)
    for m in partner:
        if m["metadata"].get("namespace") == "istio-ingress":  # MUTUAL: the platform identity's job
            assert not admission.allows(user, "CREATE", m, namespace_object=gateway_namespace)
    policy = {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
              "metadata": {"name": "allow-all", "namespace": "istio-system"}}
    assert not admission.allows(user, "CREATE", policy, namespace_object=namespace("istio-system", False))
    # Even a platform namespace someone labelled, and the owner's own environment.
    assert not admission.allows(user, "CREATE", policy, namespace_object=namespace("istio-system"))
    dev = {**policy, "metadata": {"name": "x", "namespace": OWNER}}
    assert not admission.allows(user, "CREATE", dev, namespace_object=namespace(OWNER))
    assert not admission.allows(user, "DELETE", None, namespace(OWNER))
    # Namespaces: created with their own label, never relabelled or unlabelled, none of the cluster's.
    assert admission.allows(user, "CREATE", namespace("qa"))
    assert not admission.allows(user, "CREATE", namespace("qa", labelled=False))
    assert not admission.allows(user, "CREATE", {**namespace("qa"), "metadata": {
        "name": "qa", "labels": {"istio-envs/environment": "test"}}})
    assert not admission.allows(user, "UPDATE", namespace("default"), namespace("default", labelled=False))
    assert not admission.allows(user, "UPDATE", namespace("qa", labelled=False), namespace("qa"))
    assert not admission.allows(user, "CREATE", namespace("kube-extra"))
    cluster_role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "x"}}
    assert not admission.allows(user, "CREATE", cluster_role)
    # Nobody else is affected.
    assert admission.allows("someone@example.com", "CREATE", policy, namespace_object=namespace("istio-system", False))


def test_platform_namespaces_are_reserved_environment_names():
    from components.config import RESERVED_NAMESPACES

    assert set(platform_access.PLATFORM_NAMESPACES) <= set(RESERVED_NAMESPACES)


def test_the_platform_entry_is_the_owner_stacks_platform(backend, plans):
    config = yaml.safe_load((BOOTSTRAP / "Pulumi.backend.yaml").read_text())["config"]
    (entry,) = config["istio-envs-bootstrap:platforms"]
    owner = plans[entry["stack"]]
    cluster = one(owner, "gcp:container/cluster:Cluster")["inputs"]
    assert (cluster["name"], cluster["location"], cluster["project"]) == (
        entry["cluster"], entry["location"], config["istio-envs-bootstrap:project"])
    assert owner["outputs"]["dnsZone"] == entry["dnsZone"]
    records = {r["inputs"]["member"]: r["inputs"] for r in of_type(backend, "gcp:dns/dnsManagedZoneIamMember:DnsManagedZoneIamMember")}
    assert set(records) == {f"serviceAccount:{emails(backend)[i]}" for i in ("environments", "preview-environments")}
    assert {r["managedZone"] for r in records.values()} == {entry["dnsZone"]}
    role = one(backend, "gcp:projects/iAMCustomRole:IAMCustomRole")["inputs"]
    assert all(p.startswith(("dns.resourceRecordSets.", "dns.changes.")) or p == "dns.managedZones.get"
               for p in role["permissions"])
    read = [r for r in of_type(backend, "gcp:container/cluster:Cluster") if r.get("read")]
    assert [(r["inputs"]["name"], r["inputs"]["location"]) for r in read] == [(entry["cluster"], entry["location"])]


@pytest.mark.parametrize("key, value, expected", [
    ("keyRotationDays", 365, "keyRotationDays: got 365; expected an integer from 1 to 90"),
    ("bucketName", "Bad Bucket", "bucketName: got 'Bad Bucket'"),
    ("keptStateVersions", "many", "keptStateVersions: got 'many'"),
    ("githubRepositoryId", "acme", "githubRepositoryId: got 'acme'; expected the repository's numeric id"),
    ("githubRepository", "istio-envs", "githubRepository: got 'istio-envs'; expected owner/repository"),
    ("platforms", [{"stack": "dev", "location": "us-central1", "cluster": "Nonprod", "dnsZone": "example-com"}],
     "platforms[0].cluster: got 'Nonprod'"),
    ("platforms", [{"stack": "dev", "location": "us-central1", "cluster": "nonprod"}],
     "platforms[0].dnsZone: got None"),
    ("platforms", [{"stack": "dev", "location": "us-central1", "cluster": "c", "dnsZone": "z", "zone": "z"}],
     "platforms[0].zone: got 'z'; expected one of stack, location"),
    ("platforms", {"stack": "dev"}, "platforms: got {'stack': 'dev'}; expected a list"),
])
def test_bad_bootstrap_config_is_refused(tmp_path, key, value, expected):
    for name in ("Pulumi.yaml", "__main__.py", "state_backend.py", "ci_identities.py", "platform_access.py"):
        (tmp_path / name).write_text((BOOTSTRAP / name).read_text())
    document = yaml.safe_load((BOOTSTRAP / "Pulumi.backend.yaml").read_text())
    document["config"][f"istio-envs-bootstrap:{key}"] = value
    (tmp_path / "Pulumi.backend.yaml").write_text(yaml.safe_dump(document))
    monitors = []
    with pytest.raises(Exception) as caught:
        run_program(tmp_path, "backend", lambda name: ({}, []), on_monitor=monitors.append)
    assert str(caught.value).startswith("Pulumi.backend.yaml: istio-envs-bootstrap:")
    assert expected in str(caught.value)
    assert monitors[0].registrations == []
