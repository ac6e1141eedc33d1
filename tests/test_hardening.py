"""The hardening checklist (checkov GKE checks, CIS GKE 5.x) over the owner stack's real inputs.

Each check restates checkov's rule (bridgecrewio/checkov, checks/resource/gcp) over the
camelCase inputs the program sends; the checklist in docs/hardening.md must say the same thing.
A check that depends on a config key is expected met exactly when the owner's config asks for it
(the checklist's column is the shipped Pulumi.dev.yaml's), so an owner's edit of that key changes the
expectation, not the result.
"""

from __future__ import annotations

import re

import pytest
from conftest import OWNER, ROOT, one

# id -> (CIS item, rule over (cluster inputs, node pool inputs)). None: not met (see docs/hardening.md).
CHECKS = {
    "CKV_GCP_1": ("5.7.1", lambda c, p: c.get("loggingService") != "none"
                  and "WORKLOADS" in c["loggingConfig"]["enableComponents"]),
    "CKV_GCP_7": ("5.8.3", lambda c, p: c["enableLegacyAbac"] is False),
    "CKV_GCP_8": ("5.7.1", lambda c, p: c.get("monitoringService") != "none"
                  and "SYSTEM_COMPONENTS" in c["monitoringConfig"]["enableComponents"]),
    "CKV_GCP_9": ("5.5.2", lambda c, p: p["management"]["autoRepair"] is True),
    "CKV_GCP_10": ("5.5.3", lambda c, p: p["management"]["autoUpgrade"] is True),
    "CKV_GCP_12": ("5.6.7", lambda c, p: c["networkPolicy"]["enabled"] is True
                   or c["datapathProvider"] == "ADVANCED_DATAPATH"),
    "CKV_GCP_13": ("5.8.1", lambda c, p: c["masterAuth"]["clientCertificateConfig"]["issueClientCertificate"] is False),
    "CKV_GCP_18": ("5.6.3", lambda c, p: all(b["cidrBlock"] != "0.0.0.0/0"
                                             for b in c["masterAuthorizedNetworksConfig"]["cidrBlocks"])),
    "CKV_GCP_20": ("5.6.3", lambda c, p: "masterAuthorizedNetworksConfig" in c),
    "CKV_GCP_21": ("-", lambda c, p: bool(c["resourceLabels"])),
    "CKV_GCP_23": ("5.6.2", lambda c, p: "ipAllocationPolicy" in c),
    "CKV_GCP_25": ("5.6.5", lambda c, p: c["privateClusterConfig"]["enablePrivateNodes"] is True),
    "CKV_GCP_61": ("5.6.1", lambda c, p: c.get("enableIntranodeVisibility") is True),
    "CKV_GCP_64": ("5.6.5", lambda c, p: c["privateClusterConfig"]["enablePrivateNodes"] is True),
    "CKV_GCP_65": ("5.8.2", lambda c, p: c.get("authenticatorGroupsConfig", {}).get(
        "securityGroup", "").startswith("gke-security-groups@")),
    # Enforcing the project singleton policy means something only with the policy declared:
    # test_binary_authorization_policy_is_declared below.
    "CKV_GCP_66": ("5.10.5", lambda c, p: c["binaryAuthorization"]["evaluationMode"]
                   == "PROJECT_SINGLETON_POLICY_ENFORCE"),
    "CKV_GCP_68": ("5.5.7", lambda c, p: all(n["shieldedInstanceConfig"]["enableSecureBoot"] is True
                                             for n in (c["nodeConfig"], p["nodeConfig"]))),
    "CKV_GCP_69": ("5.4.1", lambda c, p: all(n["workloadMetadataConfig"]["mode"] == "GKE_METADATA"
                                             for n in (c["nodeConfig"], p["nodeConfig"]))),
    "CKV_GCP_70": ("5.5.4", lambda c, p: c["releaseChannel"]["channel"] in ("RAPID", "REGULAR", "STABLE")),
    "CKV_GCP_71": ("5.5.5", lambda c, p: c["enableShieldedNodes"] is True),
    "CKV_GCP_72": ("5.5.6", lambda c, p: all(n["shieldedInstanceConfig"]["enableIntegrityMonitoring"] is True
                                             for n in (c["nodeConfig"], p["nodeConfig"]))),
    "CKV_GCP_123": ("-", lambda c, p: "nodePools" not in c and c["removeDefaultNodePool"] is True),
    "CKV2_GCP_19": ("5.10.2", lambda c, p: c["enableKubernetesAlpha"] is False),
}
# The checks a config key decides: id -> (met when, over the platform config; the checklist's
# status, which is the shipped Pulumi.dev.yaml's). Every other check is met whatever the config.
BY_CONFIG = {
    "CKV_GCP_61": (lambda platform: platform.cluster.intranode_visibility, "not met"),
    "CKV_GCP_65": (lambda platform: platform.cluster.rbac_security_group is not None, "met"),
}


@pytest.fixture(scope="module")
def inputs(plans):
    plan = plans[OWNER]
    return (one(plan, "gcp:container/cluster:Cluster")["inputs"],
            one(plan, "gcp:container/nodePool:NodePool")["inputs"])


@pytest.fixture(scope="module")
def platform(configs):
    return configs[OWNER].platform


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_checkov_check(inputs, platform, check):
    cis, rule = CHECKS[check]
    asked, _ = BY_CONFIG.get(check, (lambda platform: True, "met"))
    # A check the config decides (intranode visibility, Google Groups for RBAC) is met exactly
    # when the owner's config asks for it; docs/hardening.md says why each is off without it.
    assert rule(*inputs) is bool(asked(platform)), f"{check} (CIS {cis}) on the {OWNER} stack"


CHECKLIST = ROOT / "docs" / "hardening.md"


def checklist_problems(text: str) -> list[str]:
    """What the checklist's table says that the checks above do not: a check missing or extra,
    a status that is not the shipped stack's."""
    rows = dict(re.findall(r"^\| (CKV2?_GCP_\d+) \|[^|]*\| (met|not met)", text, re.M))
    problems = [f"{check}: not in the checklist" for check in sorted(set(CHECKS) - set(rows))]
    problems += [f"{check}: in the checklist, not a check here" for check in sorted(set(rows) - set(CHECKS))]
    problems += [f"{check}: the checklist says {rows[check]!r}" for check in sorted(set(rows) & set(CHECKS))
                 if rows[check] != BY_CONFIG.get(check, (None, "met"))[1]]
    return problems


def test_the_checklist_matches_the_checks():
    assert checklist_problems(CHECKLIST.read_text()) == []


def test_the_checklist_check_fails_on_a_wrong_row():
    text = CHECKLIST.read_text()
    assert checklist_problems(text.replace("| CKV_GCP_61 | 5.6.1 | not met", "| CKV_GCP_61 | 5.6.1 | met")) == \
        ["CKV_GCP_61: the checklist says 'met'"]
    assert checklist_problems(re.sub(r"^\| CKV_GCP_7 \|.*\n", "", text, flags=re.M)) == \
        ["CKV_GCP_7: not in the checklist"]


def test_further_cis_items(inputs, platform):
    cluster, pool = inputs
    # 5.2.1: a dedicated node service account, not the Compute Engine default.
    assert not pool["nodeConfig"]["serviceAccount"].endswith("-compute@developer.gserviceaccount.com")
    assert pool["nodeConfig"]["serviceAccount"].startswith(f"{platform.cluster.name}-nodes@")
    # 5.2.2: workload identity pool of the project.
    assert cluster["workloadIdentityConfig"]["workloadPool"] == f"{platform.project}.svc.id.goog"
    # 5.5.1: Container-Optimized OS with containerd.
    assert pool["nodeConfig"]["imageType"] == "COS_CONTAINERD"
    # Security posture BASIC (configuration audit). 5.10.4's vulnerability scanning is not met:
    # GKE removed the standard tier on 2025-07-31, so it is not requested at all.
    assert cluster["securityPostureConfig"] == {"mode": "BASIC"}
    assert cluster["deletionProtection"] is platform.cluster.deletion_protection


def test_node_service_account_has_only_its_roles(plans):
    grants = [r for r in plans[OWNER]["resources"]
              if r["type"] == "gcp:projects/iAMMember:IAMMember" and "nodes" in r["name"]]
    roles = {r["inputs"]["role"] for r in grants}
    # GKE's role for node service accounts (CIS GKE 2.0 5.2.1), and image pulls; no primitive
    # or admin role.
    assert "roles/container.defaultNodeServiceAccount" in roles
    assert roles <= {"roles/container.defaultNodeServiceAccount", "roles/artifactregistry.reader"}
    # Nodes boot only once the grants exist (and the cluster's transient default pool too).
    for typ in ("gcp:container/nodePool:NodePool", "gcp:container/cluster:Cluster"):
        assert {g["urn"] for g in grants} <= set(one(plans[OWNER], typ)["dependencies"]), typ


def test_binary_authorization_policy_is_declared(plans, configs):
    """The cluster enforces the project's policy; the policy itself is code, not the default
    allow-all: system images through global evaluation, the platform's registries allowlisted,
    everything else denied (dry-run by default: logged, not blocked)."""
    cluster = one(plans[OWNER], "gcp:container/cluster:Cluster")
    policy = one(plans[OWNER], "gcp:binaryauthorization/policy:Policy")
    assert policy["inputs"]["project"] == cluster["inputs"]["project"]
    assert policy["inputs"]["globalPolicyEvaluationMode"] == "ENABLE"
    rule = policy["inputs"]["defaultAdmissionRule"]
    assert rule["evaluationMode"] != "ALWAYS_ALLOW"
    enforcement = configs[OWNER].platform.binary_authorization.enforcement
    assert rule["enforcementMode"] == {"dry-run": "DRYRUN_AUDIT_LOG_ONLY",
                                       "enforce": "ENFORCED_BLOCK_AND_AUDIT_LOG"}[enforcement]
    patterns = {p["namePattern"] for p in policy["inputs"]["admissionWhitelistPatterns"]}
    releases = {r["inputs"]["chart"]: r["inputs"]["values"] for r in plans[OWNER]["resources"]
                if r["type"] == "kubernetes:helm.sh/v3:Release"}
    assert f"{releases['istiod']['global']['hub']}/*" in patterns
    assert policy["urn"] in cluster["dependencies"]

