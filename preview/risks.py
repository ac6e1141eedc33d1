"""What a reviewer of a revision diff must not miss: the one table of replacement-forcing inputs,
and the risk classes ``preview.revdiff`` reports, first, in words.

Each entry of ``REPLACES`` is an input path (camelCase, as the plan's ``inputs`` spell it) whose
change makes the provider destroy and re-create the resource, with the source it comes from.
pulumi-gcp is bridged from terraform-provider-google-beta, which marks such fields ``ForceNew``
in its schema: every gcp entry is read off the vendored schema (``schemas/provider/``, see its
SOURCE), as terraform-plugin-sdk's diff applies it (helper/schema/schema.go ``diffList``: a
block's ForceNew covers its count, each nested field has its own; a list of values inherits its
ForceNew), plus ``CustomizeDiff`` ``ForceNewIfChange`` fields. A resource's own
``replaceOnChanges`` (from the program) counts as well.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from .provider_rules import SOURCE, schemas, source_ref

TF_GOOGLE_BETA = "terraform-provider-google-beta"


def _source_ref() -> str:
    """``v7.45.0 (3dc173a)``: the ref schemas/provider/SOURCE names."""
    return source_ref().removeprefix(f"{TF_GOOGLE_BETA} ")


def _force_new(attributes: dict, file: str, ref: str, path: str = "", tf: str = "") -> list[tuple[str, str]]:
    """terraform-plugin-sdk's diff: a ForceNew value replaces the resource when it changes; a
    ForceNew block only when it is added or removed (``path.#``, its count; never for an
    Optional+Computed block, whose state keeps it), its own fields where they are ForceNew."""
    entries = []
    for name, node in attributes.items():
        if node.get("sdkOnly") or not (node.get("optional") or node.get("required")):
            continue
        at_path, tf_path, where = f"{path}{name}", f"{tf}{node['tf']}", node.get("file", file)
        cite = f"{TF_GOOGLE_BETA} {where} @ {ref}: {tf_path}"
        if "forceNewIf" in node:
            entries.append((at_path, f"{cite} ForceNew when {node['forceNewIf']}(old, new) "
                                     "(CustomizeDiff ForceNewIfChange)"))
        if node.get("forceNew") and "attributes" not in node:
            entries.append((at_path, f"{cite} ForceNew"))
        elif node.get("forceNew") and not node.get("computed"):
            entries.append((f"{at_path}.#", f"{cite} ForceNew (the block added or removed)"))
        entries += _force_new(node.get("attributes", {}), where, ref, f"{at_path}.", f"{tf_path}.")
    return entries


def _conditional(attributes: dict, path: str = "") -> list[tuple[str, str]]:
    """(path, condition name) of every ForceNewIfChange field."""
    found = []
    for name, node in attributes.items():
        if "forceNewIf" in node:
            found.append((f"{path}{name}", node["forceNewIf"]))
        found += _conditional(node.get("attributes", {}), f"{path}{name}.")
    return found


def _replaces() -> dict[str, tuple[tuple[str, str], ...]]:
    ref = _source_ref()
    return {token: tuple(_force_new(schema["attributes"], schema["file"], ref))
            for token, schema in sorted(schemas().items())}


# type -> ((input path, citation), ...). A path names a nested input (``a.b``; through a list,
# each item's); ``a.#`` is how many ``a`` blocks there are. The whole value under it is compared.
REPLACES: dict[str, tuple[tuple[str, str], ...]] = {
    **_replaces(),
    "tls:index/privateKey:PrivateKey": tuple(
        (path, "terraform-provider-tls internal/provider/resource_private_key.go: every attribute "
               "RequiresReplace (https://registry.terraform.io/providers/hashicorp/tls/latest/docs/"
               "resources/private_key)")
        for path in ("algorithm", "ecdsaCurve", "rsaBits")),
    # A certificate is issued once, at create: every input that shapes it replaces it (its
    # attributes' RequiresReplace plan modifiers, terraform-provider-tls internal/provider/
    # common_cert.go and resource_{locally_signed,self_signed}_cert.go, cert_request.go;
    # early_renewal_hours, which only moves the renewal, is left out).
    **{token: tuple((path, f"terraform-provider-tls internal/provider/{source}: {path} RequiresReplace")
                    for path in paths) for token, source, paths in (
        ("tls:index/locallySignedCert:LocallySignedCert", "resource_locally_signed_cert.go",
         ("allowedUses", "caCertPem", "caPrivateKeyPem", "certRequestPem", "isCaCertificate",
          "setSubjectKeyId", "validityPeriodHours")),
        ("tls:index/selfSignedCert:SelfSignedCert", "resource_self_signed_cert.go",
         ("allowedUses", "dnsNames", "isCaCertificate", "privateKeyPem", "setSubjectKeyId", "subject",
          "validityPeriodHours")),
        ("tls:index/certRequest:CertRequest", "resource_cert_request.go", ("dnsNames", "privateKeyPem", "subject")))},
}


def _shrinks(old: Any, new: Any) -> bool:
    """google-beta resource_compute_subnetwork.go IsShrinkageIpCidr: anything but an expansion
    (the new range holding the whole old one) replaces the subnetwork."""
    try:
        before, after = ipaddress.ip_network(old), ipaddress.ip_network(new)
    except (TypeError, ValueError):
        return True
    # An expansion holds both ends of the old range.
    return not (before.network_address in after and before.broadcast_address in after)


def _disabled(old: Any, new: Any) -> bool:
    """google-beta resource_container_cluster.go isBeenEnabled: replaced when turned off."""
    return old is True and new is False


# The CustomizeDiff ForceNewIfChange conditions the vendored schema names (forceNewIf): the
# provider replaces the resource only when the condition holds for (old, new).
FORCE_NEW_IF = {"IsShrinkageIpCidr": _shrinks, "isBeenEnabled": _disabled}
_CONDITIONS = {(token, path): FORCE_NEW_IF[condition]
               for token, schema in schemas().items()
               for path, condition in _conditional(schema["attributes"])}


def replaces(resource_type: str, path: str, old: Any, new: Any) -> bool:
    """Whether a change of ``path`` from ``old`` to ``new`` replaces the resource, given that
    ``path`` is one of its replacing inputs (a conditional one only when its condition holds)."""
    if old == new:
        return False
    condition = _CONDITIONS.get((resource_type, path))
    return condition is None or condition(old, new)


def force_new_paths(resource_type: str) -> list[str]:
    """The input paths of ``resource_type`` whose change replaces it (``REPLACES``' paths)."""
    return [path for path, _ in REPLACES.get(resource_type, ())]


# pulumi-kubernetes' own replacement rules, vendored as data (schemas/provider/
# kubernetes-replacement.json, SOURCE.kubernetes): every object on metadata.name/namespace, some
# kinds on more fields, and a Secret on its data unless its provider sets enableSecretMutable.
_KUBERNETES_RULES = json.loads(
    (SOURCE.parent / "kubernetes-replacement.json").read_text())
_KUBERNETES_CITE = ("pulumi-kubernetes provider/pkg/provider/diff.go forceNewProperties "
                    "(schemas/provider/SOURCE.kubernetes)")


def _kubernetes_paths(paths: list[str]) -> list[str]:
    """``.spec.containers[*].image`` -> ``spec.containers.image`` (``at`` maps through lists)."""
    return [path.lstrip(".").replace("[*]", "") for path in paths]


def kubernetes_replacing_inputs(resource_type: str, inputs: dict | None = None,
                                provider_inputs: dict | None = None) -> list[tuple[str, str]]:
    """(path, citation) of the inputs whose change makes pulumi-kubernetes replace the object
    (delete first, for a named one). ``provider_inputs`` are its provider's (enableSecretMutable
    and enableConfigMapMutable turn data changes into updates)."""
    group_version, _, kind = resource_type.removeprefix("kubernetes:").partition(":")
    group, _, version = group_version.rpartition("/")
    rules = _KUBERNETES_RULES
    paths = list(rules["metadata"])
    listed = rules["kinds"].get(group or "core", {}).get(version, {})

    def flag(name: str) -> bool:
        return str((provider_inputs or {}).get(name, "false")).lower() == "true"

    immutable = bool((inputs or {}).get("immutable"))
    if (group, kind) in (("core", "Secret"), ("", "Secret")) and (not flag("enableSecretMutable") or immutable):
        paths += rules["secretData"]
    elif kind in listed:
        paths += listed[kind]
    elif (group, kind) in (("core", "ConfigMap"), ("", "ConfigMap")) and (
            not flag("enableConfigMapMutable") or immutable):
        paths += rules["configMapData"]
    return [(path, f"{_KUBERNETES_CITE}: {path}") for path in dict.fromkeys(_kubernetes_paths(paths))]


# Risk classes, in the order they are reported.
CLASSES = {
    "unpreviewable": "a revision of the stack does not preview: nothing else about it is known",
    "stack-removed": "a stack file is removed: merging destroys nothing",
    "protected-delete": "a protected resource is deleted",
    "protected-replace": "a protected resource is replaced",
    "protect-changed": "`protect` changes",
    "replacement": "an input change forces replacement",
    "node-pool-replaced": "the node pool is replaced (whether without an outage, said)",
    "nodes-recreated": "every node of a pool is recreated in place (machine type, disk, image)",
    "mesh-upgrade": "an Istio chart moves in place (base: the CRDs, cni, gateway), with what its move does",
    "chart-upgrade": "a Helm chart's version moves",
    "certificate-reissued": "the Gateway's certificate is reissued",
    "cluster-rebuild": "a change a plain `pulumi up` cannot carry out: the cluster rebuilt",
    "namespace-deleted": "an environment namespace is deleted (its workloads go with it)",
    "dns-removed": "a DNS record is removed",
    "dns-retargeted": "a DNS record points elsewhere",
    "tls-lowered": "TLS minimum version or mode lowered",
    "access-opened": "a request reaches a service it did not, or a new one without the token",
    "owners-granted": "someone may deploy into a namespace or gets cluster credentials",
    "egress-added": "a namespace may call a new destination outside the mesh",
    "demo-on": "the demo echo server runs",
    "audience-shared": "an audience is in more than one stack",
    "quota-raised": "a quota is raised past its threshold",
    "cost-rise": "the monthly cost estimate rises past its threshold",
    "mesh-move": "an environment moves to another Istio revision (its pods restart), or an istiod "
                 "revision is installed, removed or gets a tag",
}
DEFAULT_BLOCKING = ("protected-delete",)

# A quota above these (ResourceQuota spec.hard) is reported when raised.
QUOTA_THRESHOLDS = {"requests.cpu": "8", "requests.memory": "32Gi", "pods": "100"}

TLS_VERSIONS = ["TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3"]
TLS_MODES = ["PASSTHROUGH", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"]

def replacing_inputs(resource_type: str, replace_on_changes: list[str] | None = None,
                     inputs: dict | None = None, provider_inputs: dict | None = None
                     ) -> list[tuple[str, str]]:
    """(input path, citation) of every input of ``resource_type`` whose change replaces it;
    ``inputs`` and its provider's ``provider_inputs`` where the rule depends on them."""
    entries = list(REPLACES.get(resource_type, ()))
    if resource_type.startswith("kubernetes:") and not resource_type.startswith("kubernetes:helm"):
        entries += kubernetes_replacing_inputs(resource_type, inputs, provider_inputs)
    entries += [(path, "the program's replaceOnChanges") for path in replace_on_changes or []
                if path != "*"]
    return entries


def at(value: Any, path: str) -> Any:
    """The value at a dotted path; through a list, the list of each item's; ``#`` counts blocks."""
    parts = path.split(".")
    for i, part in enumerate(parts):
        if part == "#":
            return len(value) if isinstance(value, list) else int(value is not None)
        if isinstance(value, list):
            return [at(item, ".".join(parts[i:])) for item in value]
        value = value.get(part) if isinstance(value, dict) else None
    return value
