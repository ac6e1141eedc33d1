"""Every Helm value the program gives a release is one the pinned chart reads.

Helm ignores a value its chart does not know: a misspelt key installs fine and does nothing. So
every leaf of every release's ``values`` (all shipped and example stacks) must be described by the
chart at the pinned tag, vendored byte for byte under ``tests/charts/`` (each folder's ``SOURCE``
names the tag, held against ``components/versions.py``):

- its ``values.yaml``, read the way the chart's own templates read it (Istio keeps its defaults
  under ``_internal_defaults_do_not_set``; istiod copies ``pilot.*`` to the top level), or
- its ``values.schema.json`` (``properties``, ``patternProperties``, ``additionalProperties``,
  ``items``, ``$ref``/``$defs``, ``allOf``/``anyOf``/``oneOf``).

A free-form default (``affinity: {}``, ``topologySpreadConstraints: []``, ``annotations: {}``)
describes nothing below it. Values that are Kubernetes API objects are checked against the
Kubernetes OpenAPI definitions (``kubernetes_validate``'s, strict, at the cluster version the
manifest checks use), and istiod's ``meshConfig`` against Istio's MeshConfig API (vendored
protos), so a typo inside them is caught too. The values are also validated against the chart's
``values.schema.json`` as Helm does (chart defaults coalesced with the release's values).
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from conftest import ROOT

from components.versions import CERT_MANAGER_VERSION, ISTIO_DEFINITIONS_VERSION, ISTIO_VERSIONS
from preview.schemas import KUBERNETES_VERSION

CHARTS = ROOT / "tests" / "charts"
RELEASE = "kubernetes:helm.sh/v3:Release"
ISTIO = "https://github.com/istio/istio"
ISTIO_API = "https://github.com/istio/api"
CERT_MANAGER = "https://github.com/cert-manager/cert-manager"
# The Istio definitions are vendored per installable version, under tests/charts/istio/<tag>/ (the
# tag components/versions.py ISTIO_VERSIONS names; tests/test_versions.py holds each to its
# version's minor); istio/api's files are of that tag too, but for 1.31.0-rc.0, whose istio/api
# commit the snapshot does not hold (its meshconfig/SOURCE says which it is instead).
ISTIO_TAGS = tuple(sorted(set(ISTIO_VERSIONS.values())))
API_REFS = {tag: tag for tag in ISTIO_TAGS} | {"1.31.0-rc.0": "master"}

# --- how the Istio charts read their values: the template lines this file models --------------
#
# Helm renders a chart's templates in one order (pkg/engine/engine.go, sortTemplates: deepest path
# first, then names in reverse lexical order), so `zzz_profile.yaml` renders first and
# `zzy_descope_legacy.yaml` second, before every other template; all of a chart's templates share
# one `$`, so what these two do to `$.Values` is what every later template reads. That is why the
# charts name them `zz*`, and why the model below holds for every template that reads a value.
#
# zzz_profile.yaml: the defaults are all under `_internal_defaults_do_not_set`; the template takes
# them out and lays the release's values over them, so a value is set at the top level (`foo`,
# never `_internal_defaults_do_not_set.foo`), and `defaults` is refused outright.
PROFILE_LINES = (
    "{{- $defaults := $.Values._internal_defaults_do_not_set }}",
    '{{- $_ := unset $.Values "_internal_defaults_do_not_set" }}',
    '{{- $b := set $ "Values" (mustMergeOverwrite $defaults $.Values) }}',
    "{{- if $.Values.defaults}}",
)
DEFAULTS_KEY = "_internal_defaults_do_not_set"
ISTIO_RESERVED = {
    DEFAULTS_KEY: "values.yaml: users should NOT set it; set the value itself at the top level",
    "defaults": "zzz_profile.yaml fails the install on it; set the value itself at the top level",
}
# zzz_profile.yaml: with `if true` (the gateway chart) the release's `global` is merged into the
# top-level defaults as well, so `global.X` is read as `X` too; `if false` (base, istiod) does not.
FLATTEN_GLOBALS = re.compile(
    r"\{\{- if (true|false) \}\}\n"
    r"\{\{- \$a := mustMergeOverwrite \$defaults \(\$profile\.global\) "
    r"\(\$\.Values\.global \| default dict\)\s*\}\}")
# zzy_descope_legacy.yaml (istiod): after zzz_profile has laid the release's values over the
# defaults, everything under `.pilot` is deep-merged over the top level, so `pilot.X` is read as
# `X` (and wins over a top-level `X`). `pilot.X` is therefore a value when `X` is one (or when
# `pilot.X` itself is: `.pilot` stays in place). istiod 1.30's defaults have no `pilot` at all.
DESCOPE_PILOT = '{{- $_ := mustMergeOverwrite $.Values (index $.Values "pilot") }}'

# Values a vendored template reads that neither values.yaml nor values.schema.json declares. Each
# is allowed only at exactly this path, only while the named vendored template still reads it.
READ_BUT_UNDECLARED = {
    # base: not in values.yaml at all (only validationURL/validationCABundle are).
    ("base", "base.validationFailurePolicy"): (
        "templates/defaultrevision-validatingwebhookconfiguration.yaml",
        "{{- else if .Values.base.validationFailurePolicy }}"),
    # istiod: in values.yaml only as a comment, `# validationFailurePolicy: Fail`.
    ("istiod", "base.validationFailurePolicy"): (
        "templates/validatingwebhookconfiguration.yaml",
        "{{- else if .Values.base.validationFailurePolicy }}"),
}

# --- values that are Kubernetes or Istio API objects -------------------------------------------
#
# A chart value of one of these names is passed into the rendered object as is (toYaml), so its
# sub-tree is that API type. Applied to chart-level keys only (not again inside an API object).
K8S = "io.k8s.api.core.v1."
ANNOTATIONS = {"$ref": "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta/properties/annotations"}
LABELS = {"$ref": "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta/properties/labels"}


def _ref(name: str) -> dict:
    return {"$ref": f"#/$defs/{name}"}


def _list_of(name: str) -> dict:
    return {"type": "array", "items": _ref(name)}


KUBERNETES_VALUES = {
    "affinity": _ref(K8S + "Affinity"),
    "tolerations": _list_of(K8S + "Toleration"),
    "topologySpreadConstraints": _list_of(K8S + "TopologySpreadConstraint"),
    "nodeSelector": {"$ref": f"#/$defs/{K8S}PodSpec/properties/nodeSelector"},
    "securityContext": _ref(K8S + "PodSecurityContext"),
    "containerSecurityContext": _ref(K8S + "SecurityContext"),
    "seccompProfile": _ref(K8S + "SeccompProfile"),
    "resources": _ref(K8S + "ResourceRequirements"),
    "readinessProbe": _ref(K8S + "Probe"),
    "livenessProbe": _ref(K8S + "Probe"),
    "lifecycle": _ref(K8S + "Lifecycle"),
    "volumes": _list_of(K8S + "Volume"),
    "volumeMounts": _list_of(K8S + "VolumeMount"),
    "initContainers": _list_of(K8S + "Container"),
    "hostAliases": _list_of(K8S + "HostAlias"),
    "strategy": _ref("io.k8s.api.apps.v1.DeploymentStrategy"),
    "autoscaleBehavior": _ref("io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerBehavior"),
    **dict.fromkeys(("annotations", "podAnnotations", "serviceAnnotations", "deploymentAnnotations",
                     "serviceAccountAnnotations", "sidecarInjectorWebhookAnnotations"), ANNOTATIONS),
    **dict.fromkeys(("labels", "podLabels", "deploymentLabels", "commonLabels", "selectorLabels"),
                    LABELS),
}
# istiod: "meshConfig.foo becomes the API, rather than re-inventing the API in values.yaml"
# (templates/configmap.yaml merges it into the mesh ConfigMap as is), and istiod applies that
# ConfigMap with unknown fields allowed: a typo there is silently dropped.
MESH_CONFIG = "istio.mesh.v1alpha1.MeshConfig"
MESH_CONFIG_DOC = "# See https://istio.io/docs/reference/config/istio.mesh.v1alpha1/ for all available options"
ISTIO_VALUES = {"meshConfig": _ref(MESH_CONFIG)}
# The Istio charts' `env`: environment variable name -> value (rendered as the container's env).
ENV = "environment variable name -> value"
CHART_MAPS = {"env": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}}


# --- the vendored charts ------------------------------------------------------------------------

def read_source(path: Path) -> dict[str, str]:
    fields = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
    return fields


@dataclass(frozen=True)
class Chart:
    name: str
    release: str  # the tag of the definitions: an Istio tag (tests/charts/istio/<tag>/) or cert-manager's
    folder: Path
    source: dict[str, str]
    values: dict  # values.yaml, as Helm coalesces it with the release's values
    defaults: dict  # what the templates read a value against (Istio: _internal_defaults_do_not_set)
    schema: dict | None
    reserved: dict[str, str]  # top-level keys a release must not set -> why
    descoped: tuple[str, ...]  # top-level keys whose contents the templates also read at the top

    def template(self, name: str) -> str:
        return (self.folder / name).read_text()

    def is_api_value(self, key: str) -> bool:
        """A chart-level value whose sub-tree is an API object (or a name -> value map)."""
        istio = self.source["repository"] == "https://github.com/istio/istio"
        return (key in KUBERNETES_VALUES or istio and key in CHART_MAPS
                or self.name == "istiod" and key in ISTIO_VALUES)


def charts(release: str = ISTIO_DEFINITIONS_VERSION) -> dict[str, Chart]:
    """The vendored charts of one Istio definitions tag (default: the pin's), and cert-manager's."""
    return {name: chart for (tag, name), chart in every_chart().items() if tag in (release, CERT_MANAGER_VERSION)}


def chart_of(inputs: dict) -> Chart:
    """The vendored chart a release's values are read against: its version's definitions."""
    tag = CERT_MANAGER_VERSION if inputs["chart"] == "cert-manager" else ISTIO_VERSIONS[inputs["version"]]
    return every_chart()[(tag, inputs["chart"])]


@cache
def every_chart() -> dict[tuple[str, str], Chart]:
    found = {}
    for source_file in sorted(CHARTS.rglob("SOURCE")):
        source = read_source(source_file)
        if "chart" not in source:
            continue
        folder = source_file.parent
        values = yaml.safe_load((folder / "values.yaml").read_text())
        schema_file = folder / "values.schema.json"
        templates = {p.name: p.read_text() for p in sorted((folder / "templates").glob("*.yaml"))}
        profile = templates.get("zzz_profile.yaml", "")
        istio_layout = all(line in profile for line in PROFILE_LINES)
        descoped = []
        flatten = FLATTEN_GLOBALS.search(profile)
        if flatten and flatten[1] == "true":
            descoped.append("global")
        if DESCOPE_PILOT in templates.get("zzy_descope_legacy.yaml", ""):
            descoped.append("pilot")
        found[(source["tag"], source["chart"])] = Chart(
            name=source["chart"], release=source["tag"], folder=folder, source=source, values=values,
            defaults=values[DEFAULTS_KEY] if istio_layout else values,
            schema=json.loads(schema_file.read_text()) if schema_file.exists() else None,
            reserved=ISTIO_RESERVED if istio_layout else {},
            descoped=tuple(descoped))
    return found


@cache
def kubernetes_definitions() -> dict:
    """The strict Kubernetes OpenAPI definitions kubernetes_validate ships for the cluster version
    the manifest checks use (its newest schemas not newer than that version)."""
    from kubernetes_validate.utils import all_versions, schema_contents
    from packaging.version import Version

    version = max(v for v in all_versions() if Version(v) < Version(KUBERNETES_VERSION + ".9999"))
    return schema_contents(f"kubernetes-json-schema/v{version}-local-strict/_definitions.json",
                           KUBERNETES_VERSION)


# --- MeshConfig: the vendored protos as a JSON schema (the protobuf JSON mapping) --------------

@dataclass
class ProtoField:
    name: str
    type: str
    scope: str  # the message it is declared in (type names resolve from there outwards)
    shape: str = "single"  # single, repeated, map
    json_name: str = ""


def _proto_tokens(text: str) -> list[str]:
    text = re.sub(r'"(?:[^"\\]|\\.)*"|//[^\n]*|/\*.*?\*/',
                  lambda m: m[0] if m[0].startswith('"') else " ", text, flags=re.S)
    return re.findall(r'"(?:[^"\\]|\\.)*"|\.?[A-Za-z_][\w.]*|-?\d+|\S', text)


def parse_proto(text: str, messages: dict[str, list[ProtoField]], enums: dict[str, list]) -> None:
    """Messages (full name -> fields) and enums (full name -> names and numbers) of a proto3 file:
    enough of the grammar for Istio's API files (no services or extensions there)."""
    toks = _proto_tokens(text)

    def statement_end(i: int) -> int:
        while toks[i] != ";":
            i += 1
        return i + 1

    def enum(i: int, name: str) -> int:  # at "{"
        values: list = []
        i += 1
        while toks[i] != "}":
            if toks[i] in ("option", "reserved") or toks[i + 1] == "=":
                if toks[i + 1] == "=" and toks[i] not in ("option", "reserved"):
                    values += [toks[i], int(toks[i + 2])]
                i = statement_end(i)
            else:
                i += 1  # a stray ";"
        enums[name] = values
        return i + 1

    def members(i: int, scope: str, fields: list[ProtoField]) -> int:  # just after "{"
        while toks[i] != "}":
            word = toks[i]
            if word == "message":
                name = f"{scope}.{toks[i + 1]}"
                messages[name] = []
                i = members(i + 3, name, messages[name])
            elif word == "enum":
                i = enum(i + 2, f"{scope}.{toks[i + 1]}")
            elif word == "oneof":  # its fields are the message's own, in the JSON mapping
                i = members(i + 3, scope, fields)
            elif word in ("option", "reserved", "extensions"):
                i = statement_end(i)
            elif word == ";":
                i += 1
            else:
                shape = "single"
                if word in ("repeated", "optional"):
                    shape = "repeated" if word == "repeated" else shape
                    i += 1
                if toks[i] == "map":  # map < key , value > name = N
                    type_, name, shape = toks[i + 4], toks[i + 6], "map"
                else:
                    type_, name = toks[i], toks[i + 1]
                end = statement_end(i)
                options = toks[i:end]
                json_name = (options[options.index("json_name") + 2].strip('"')
                             if "json_name" in options else
                             re.sub(r"_([a-z0-9])", lambda m: m[1].upper(), name))
                fields.append(ProtoField(name, type_, scope, shape, json_name))
                i = end
        return i + 1

    package, i = "", 0
    while i < len(toks):
        if toks[i] == "package":
            package = toks[i + 1]
            i += 2
        elif toks[i] == "message":
            name = f"{package}.{toks[i + 1]}"
            messages[name] = []
            i = members(i + 3, name, messages[name])
        elif toks[i] == "enum":
            i = enum(i + 2, f"{package}.{toks[i + 1]}")
        elif toks[i] in ("syntax", "import", "option"):
            i = statement_end(i)
        else:
            i += 1


_INT = {"type": ["integer", "string"]}  # the JSON mapping takes 64-bit (and any) integers as strings
PROTO_SCALARS = {
    "string": {"type": "string"}, "bytes": {"type": "string"}, "bool": {"type": "boolean"},
    "double": {"type": ["number", "string"]}, "float": {"type": ["number", "string"]},
    **dict.fromkeys(("int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32", "fixed64",
                     "sfixed32", "sfixed64"), _INT),
}
WELL_KNOWN = {
    "google.protobuf.Duration": {"type": "string"},
    "google.protobuf.Timestamp": {"type": "string"},
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": True,
    "google.protobuf.ListValue": {"type": "array"},
    "google.protobuf.Any": {"type": "object", "additionalProperties": True},
    **{f"google.protobuf.{scalar.capitalize()}Value": PROTO_SCALARS[scalar]
       for scalar in ("bool", "string", "bytes", "double", "float", "int32", "int64")},
    "google.protobuf.UInt32Value": _INT, "google.protobuf.UInt64Value": _INT,
}


@cache
def mesh_config_schema(release: str = ISTIO_DEFINITIONS_VERSION) -> dict:
    """The vendored MeshConfig messages as a JSON schema document: each message a ``$defs`` entry
    taking its fields by JSON name or proto name (as Istio's jsonpb does), nothing else; enums by
    name or number. Messages of protos not vendored (``istio.networking.*``) are not checked."""
    messages: dict[str, list[ProtoField]] = {}
    enums: dict[str, list] = {}
    for proto in sorted((CHARTS / "istio" / release / "meshconfig").glob("*.proto")):
        parse_proto(proto.read_text(), messages, enums)

    def full_name(type_: str, scope: str) -> str:  # protoc's lookup: innermost scope outwards
        if type_.startswith("."):
            return type_[1:]
        parts = scope.split(".")
        for n in range(len(parts), -1, -1):
            candidate = ".".join(parts[:n] + [type_])
            if candidate in messages or candidate in enums:
                return candidate
        return type_

    def field_schema(f: ProtoField) -> Any:
        type_ = full_name(f.type, f.scope)
        if type_ in PROTO_SCALARS:
            schema = PROTO_SCALARS[type_]
        elif type_ in WELL_KNOWN:
            schema = WELL_KNOWN[type_]
        elif type_ in messages or type_ in enums:
            schema = _ref(type_)
        else:
            schema = True  # a message of a proto not vendored here
        if f.shape == "repeated":
            return {"type": "array", "items": schema}
        if f.shape == "map":
            return {"type": "object", "additionalProperties": schema}
        return schema

    defs: dict[str, Any] = {name: {"enum": values} for name, values in enums.items()}
    for name, fields in messages.items():
        properties = {}
        for f in fields:
            properties[f.json_name] = properties[f.name] = field_schema(f)
        defs[name] = {"type": "object", "properties": properties, "additionalProperties": False}
    return {"$defs": defs}


# --- walking a release's values against what describes them -----------------------------------

MISSING = object()
CHART_SOURCES = ("values.yaml", "values.schema.json")


def resolve(schema: Any, root: dict) -> Any:
    """``schema`` with its ``$ref`` followed (JSON pointers into ``root``)."""
    while isinstance(schema, dict) and "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/"), ref
        schema = root
        for part in ref[2:].split("/"):
            schema = schema[part.replace("~1", "/").replace("~0", "~")]
    return schema


def branches(schema: Any, root: dict) -> list[Any]:
    schema = resolve(schema, root)
    found = [schema]
    if isinstance(schema, dict):
        for keyword in ("allOf", "anyOf", "oneOf"):
            for sub in schema.get(keyword, []):
                found += branches(sub, root)
    return found


@dataclass(frozen=True)
class Where:
    """One description of a node of the values: a values.yaml node and/or a schema node."""
    source: str  # values.yaml, values.schema.json, a Kubernetes or Istio API type
    default: Any = MISSING
    schema: Any = None
    root: dict = field(default_factory=dict, compare=False, repr=False)
    descoped: tuple[str, ...] = ()  # (top level only) keys whose contents are also read here

    @property
    def chart_level(self) -> bool:
        return self.source in CHART_SOURCES

    def child(self, key: str) -> list[Where]:
        found = []
        default = self.default[key] if isinstance(self.default, dict) and key in self.default else MISSING
        schema = None
        for branch in branches(self.schema, self.root) if self.schema is not None else []:
            if branch is True:
                schema = True
            elif isinstance(branch, dict):
                if key in branch.get("properties", {}):
                    schema = branch["properties"][key]
                else:
                    schema = next((sub for pattern, sub in branch.get("patternProperties", {}).items()
                                   if re.search(pattern, key)), None)
                    if schema is None and branch.get("additionalProperties") not in (None, False):
                        schema = branch["additionalProperties"]
            if schema is not None:
                break
        if default is not MISSING or schema is not None:
            found.append(replace(self, default=default, schema=schema, descoped=()))
        if key in self.descoped:
            found.append(replace(self, descoped=()))  # what the descoping template does
        return found

    def item(self) -> Where | None:
        default = MISSING
        if isinstance(self.default, list) and self.default and all(
                isinstance(i, dict) for i in self.default):
            default = {}
            for entry in self.default:  # the keys any default item has
                for key, value in entry.items():
                    default.setdefault(key, value)
        schema = None
        for branch in branches(self.schema, self.root) if self.schema is not None else []:
            if branch is True:
                schema = True
            elif isinstance(branch, dict) and branch.get("items") is not None:
                schema = branch["items"]
            if schema is not None:
                break
        if default is MISSING and schema is None:
            return None
        return replace(self, default=default, schema=schema, descoped=())


def join(path: str, key: str) -> str:
    part = f".{key}" if re.fullmatch(r"[A-Za-z_][\w-]*", key) else f"[{json.dumps(key)}]"
    return (path + part).lstrip(".")


@cache
def api_validator(name: str, release: str = ISTIO_DEFINITIONS_VERSION) -> tuple[Where, jsonschema.Validator]:
    if name in ISTIO_VALUES:
        root, schema, source = mesh_config_schema(release), ISTIO_VALUES[name], MESH_CONFIG
    elif name in CHART_MAPS:
        root, schema, source = {"$defs": {}}, CHART_MAPS[name], ENV
    else:
        root, schema = kubernetes_definitions(), KUBERNETES_VALUES[name]
        source = f"Kubernetes {KUBERNETES_VERSION} {schema.get('$ref') or schema['items']['$ref']}"
        source = source.replace("#/$defs/", "")
    where = Where(source, schema=schema, root=root)
    return where, jsonschema.Draft202012Validator({**schema, "$defs": root["$defs"]})


def extend(path: str, parts: Any) -> str:
    for part in parts:
        path = f"{path}[{part}]" if isinstance(part, int) else join(path, str(part))
    return path


def api_problems(value: Any, path: str, validator: jsonschema.Validator, source: str) -> list[str]:
    """Types, enums and required fields of an API object (unknown fields: the walk reports them)."""
    return [f"{extend(path, e.path)}: {e.message} ({source})"
            for e in validator.iter_errors(value) if e.validator != "additionalProperties"]


@dataclass
class Check:
    chart: Chart
    problems: list[str] = field(default_factory=list)
    exceptions_used: set[tuple[str, str]] = field(default_factory=set)

    def walk(self, value: Any, path: str, where: list[Where]) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                here = join(path, key)
                found = [w for place in where for w in place.child(key)]
                if all(w.chart_level for w in where) and self.chart.is_api_value(key):
                    api, validator = api_validator(key, self.chart.release)
                    found.append(api)
                    self.problems += api_problems(inner, here, validator, api.source)
                if not path and key in self.chart.reserved:
                    self.problems.append(f"{here}: reserved ({self.chart.reserved[key]})")
                elif found:
                    self.walk(inner, here, found)
                elif (self.chart.name, here) in READ_BUT_UNDECLARED:
                    self.exceptions_used.add((self.chart.name, here))
                else:
                    sources = sorted({w.source for w in where})
                    self.problems.append(f"{here}: not in {' or '.join(sources)}")
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                if isinstance(inner, dict | list):
                    found = [w for w in (place.item() for place in where) if w]
                    if found:
                        self.walk(inner, f"{path}[{index}]", found)
                    else:
                        self.problems.append(f"{path}[{index}]: no item of {path} is described by "
                                             f"{' or '.join(sorted({w.source for w in where}))}")


def check_values(chart: Chart, values: dict) -> Check:
    check = Check(chart)
    roots = [Where("values.yaml", default=chart.defaults, descoped=chart.descoped)]
    if chart.schema is not None:
        roots.append(Where("values.schema.json", schema=chart.schema, root=chart.schema,
                           descoped=chart.descoped))
    check.walk(values, "", roots)
    return check


def coalesce(defaults: Any, values: Any) -> Any:
    """Helm's coalescing of a release's values over the chart's (maps merge, null deletes)."""
    if not (isinstance(defaults, dict) and isinstance(values, dict)):
        return copy.deepcopy(values)
    merged = copy.deepcopy(defaults)
    for key, value in values.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = coalesce(defaults.get(key), value)
    return merged


def schema_problems(chart: Chart, values: dict) -> list[str]:
    validator_class = jsonschema.validators.validator_for(chart.schema,
                                                          default=jsonschema.Draft202012Validator)
    validator = validator_class(chart.schema)
    return sorted(f"{extend('', e.path) or '(values)'}: {e.message}"
                  for e in validator.iter_errors(coalesce(chart.values, values)))


# --- the releases ----------------------------------------------------------------------------

def releases(*plan_sets: dict[str, dict]) -> list[tuple[str, dict]]:
    """(stack/resource, inputs) of every Helm release in the plans."""
    return [(f"{stack}/{r['name']}", r["inputs"])
            for plans in plan_sets for stack, plan in sorted(plans.items())
            for r in plan["resources"] if r["type"] == RELEASE]


@pytest.fixture(scope="module")
def all_releases(plans, example_plans, upgrade_owner_plans) -> list[tuple[str, dict]]:
    """Every shipped and example stack's releases, and the owner's in each state of an upgrade
    (two revisions: each version's charts)."""
    return releases(plans, example_plans, {f"{state}/{name}": plan for state, plan in upgrade_owner_plans.items()
                                           for name in ("dev",)})


def real_values(all_releases, chart: str) -> dict:
    """A deep copy of the first shipped or example release's values for ``chart``."""
    return copy.deepcopy(next(inputs["values"] for _, inputs in all_releases
                              if inputs["chart"] == chart))


def test_vendored_files_name_their_source_and_the_pins():
    sources = sorted(CHARTS.rglob("SOURCE"))
    assert sources
    for path in sources:
        source = read_source(path)
        assert {"repository", "tag", "commit", "path", "files", "license"} <= set(source), path
        assert source["license"] == "Apache-2.0", path
        assert re.fullmatch(r"[0-9a-f]{40}", source["commit"]), path
        if source["repository"] == CERT_MANAGER:
            assert source["tag"] == CERT_MANAGER_VERSION, path
        else:  # tests/charts/istio/<tag>/<chart>/SOURCE
            tag = path.parent.parent.name
            assert tag in ISTIO_TAGS and source["repository"] in (ISTIO, ISTIO_API), path
            assert source["tag"] == (tag if source["repository"] == ISTIO else API_REFS[tag]), path
        vendored = {str(p.relative_to(path.parent)) for p in path.parent.rglob("*")
                    if p.is_file() and p.name != "SOURCE"}
        assert set(source["files"].split()) == vendored, path
    assert set(every_chart()) == {(tag, name) for tag in ISTIO_TAGS for name in ("base", "istiod", "gateway", "cni")
                                  } | {(CERT_MANAGER_VERSION, "cert-manager")}
    for tag in ISTIO_TAGS:
        assert sorted(p.name for p in (CHARTS / "istio" / tag).iterdir()) == [
            "base", "cni", "gateway", "istiod", "meshconfig"], tag


def test_every_release_is_a_vendored_chart_at_its_pinned_version(all_releases):
    used = {(chart_of(inputs).release, inputs["chart"]) for _, inputs in all_releases}
    assert used == set(every_chart()), \
        "a vendored chart no stack (or upgrade state) installs, or a release of a chart not vendored"
    for name, inputs in all_releases:
        chart = chart_of(inputs)
        tag = chart.source["tag"]
        if chart.source["repository"] == CERT_MANAGER:
            assert inputs["version"] == CERT_MANAGER_VERSION, name
            continue
        assert inputs["version"] in ISTIO_VERSIONS and tag == ISTIO_VERSIONS[inputs["version"]], name
        # The vendored values are of the release's minor: one minor, one set of chart values.
        assert inputs["version"].lstrip("v").split(".")[:2] == tag.lstrip("v").split(".")[:2], name


@pytest.mark.parametrize("release", ISTIO_TAGS)
def test_the_modelled_template_lines_are_the_vendored_templates(release):
    """The reading rules above are what the vendored templates do, word for word."""
    found = charts(release)
    for name in ("base", "istiod", "gateway", "cni"):
        profile = found[name].template("templates/zzz_profile.yaml")
        assert all(line in profile for line in PROFILE_LINES), name
        assert found[name].defaults is found[name].values[DEFAULTS_KEY]
        assert found[name].reserved == ISTIO_RESERVED
        assert len(FLATTEN_GLOBALS.findall(profile)) == 1, name
    assert {name: chart.descoped for name, chart in found.items()} == {
        "base": (), "istiod": ("pilot",), "gateway": ("global",), "cni": (), "cert-manager": ()}
    legacy = found["istiod"].template("templates/zzy_descope_legacy.yaml")
    assert DESCOPE_PILOT in legacy and "this always happens after zzz_profile.yaml" in legacy
    assert "pilot" not in found["istiod"].defaults
    assert MESH_CONFIG_DOC in found["istiod"].template("values.yaml")
    assert found["cert-manager"].defaults is found["cert-manager"].values


def helm_render_order(names: list[str]) -> list[str]:
    """Helm's sortTemplates: sort.Reverse(byPathLen) (fewer '/' first, then lexical), reversed."""
    return sorted(names, key=lambda n: (n.count("/"), n), reverse=True)


def test_helm_renders_the_zz_templates_before_the_others():
    names = [f"istiod/templates/{p.name}" for p in (charts()["istiod"].folder / "templates").iterdir()]
    assert helm_render_order(names + ["istiod/templates/deployment.yaml"])[:2] == [
        "istiod/templates/zzz_profile.yaml", "istiod/templates/zzy_descope_legacy.yaml"]


def test_every_value_the_program_sets_is_one_the_chart_reads(all_releases):
    problems, used = [], set()
    for name, inputs in all_releases:
        check = check_values(chart_of(inputs), inputs["values"])
        problems += [f"{name} ({inputs['chart']} {inputs['version']}): {p}" for p in check.problems]
        used |= check.exceptions_used
    assert problems == []
    # Each allowance for a value the chart reads but does not declare is still needed, and the
    # vendored template still reads it.
    assert used == set(READ_BUT_UNDECLARED)
    for release in ISTIO_TAGS:
        for (chart, _), (template, line) in READ_BUT_UNDECLARED.items():
            assert line in charts(release)[chart].template(template), (release, chart, template)
        assert "# validationFailurePolicy: Fail" in charts(release)["istiod"].template("values.yaml")


def test_values_pass_the_charts_values_schema(all_releases):
    checked, problems = set(), []
    for name, inputs in all_releases:
        chart = chart_of(inputs)
        if chart.schema is not None:
            checked.add((chart.release, chart.name))
            problems += [f"{name}: {p}" for p in schema_problems(chart, inputs["values"])]
    # base and istiod ship no values.schema.json; the gateway's of each version is read
    assert checked == {(tag, "gateway") for tag in ISTIO_TAGS} | {(CERT_MANAGER_VERSION, "cert-manager")}
    assert problems == []


@pytest.mark.parametrize("release", ISTIO_TAGS)
def test_kubernetes_and_mesh_values_are_checked_inside(all_releases, release):
    """The sub-trees the charts leave free-form are walked against their API types."""
    assert set(kubernetes_definitions()["$defs"]) >= {K8S + "Affinity", K8S + "TopologySpreadConstraint"}
    mesh = mesh_config_schema(release)["$defs"]
    assert {"accessLogFile", "access_log_file", "outboundTrafficPolicy"} <= set(
        mesh[MESH_CONFIG]["properties"])
    assert mesh[MESH_CONFIG + ".OutboundTrafficPolicy.Mode"] == {
        "enum": ["REGISTRY_ONLY", 0, "ALLOW_ANY", 1, "ALLOW_ANY_DYNAMIC_DNS", 3]}
    assert "defaultConfig" in mesh[MESH_CONFIG]["properties"]
    assert mesh[MESH_CONFIG]["properties"]["defaultConfig"] == _ref("istio.mesh.v1alpha1.ProxyConfig")
    for name in KUBERNETES_VALUES:  # every API type named resolves in the definitions
        where, _ = api_validator(name)
        schema = resolve(where.schema, where.root)
        assert isinstance(resolve(schema.get("items", schema), where.root), dict), name
    gateway = real_values(all_releases, "gateway")
    assert gateway["affinity"] and gateway["topologySpreadConstraints"]  # what gets walked


# --- planted faults: a real release's values, one key misspelt ---------------------------------

def _rename(values: dict, path: list, new: str) -> None:
    *parents, old = path
    node = values
    for part in parents:
        node = node[part]
    node[new] = node.pop(old)


def _set(values: dict, path: list, value: Any) -> None:
    *parents, last = path
    node = values
    for part in parents:
        node = node[part]
    node[last] = value


ANTI = ["affinity", "podAntiAffinity", "preferredDuringSchedulingIgnoredDuringExecution"]
ANTI_PATH = "affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution"
NOT_IN_CHART = "not in values.schema.json or values.yaml"
# fault -> (chart, edit: _rename to a new key or _set a value, path, new key or value, expected)
PLANTED = {
    "gateway-loadBalancerIp": ("gateway", _rename, ["service", "loadBalancerIP"], "loadBalancerIp",
                               f"service.loadBalancerIp: {NOT_IN_CHART}"),
    "gateway-pdb-minAvailble": ("gateway", _rename, ["podDisruptionBudget", "minAvailable"], "minAvailble",
                                f"podDisruptionBudget.minAvailble: {NOT_IN_CHART}"),
    "gateway-port-item": ("gateway", _rename, ["service", "ports", 0, "targetPort"], "targetport",
                          f"service.ports[0].targetport: {NOT_IN_CHART}"),
    "gateway-affinity-term": ("gateway", _rename, [*ANTI, 1, "podAffinityTerm", "topologyKey"], "topologykey",
                              f"{ANTI_PATH}[1].podAffinityTerm.topologykey: not in Kubernetes"),
    "gateway-affinity-kind": ("gateway", _rename, ["affinity", "podAntiAffinity"], "podAntiAfinity",
                              "affinity.podAntiAfinity: not in Kubernetes"),
    "gateway-spread-value": ("gateway", _rename, ["topologySpreadConstraints", 0, "whenUnsatisfiable"],
                             "whenUnsatisfable", "topologySpreadConstraints[0].whenUnsatisfable: not in Kubernetes"),
    "gateway-global-descoped": ("gateway", _set, ["global"], {"networkPolicy": {"enabled": True}, "nodeSelectr": {}},
                                f"global.nodeSelectr: {NOT_IN_CHART}"),
    "istiod-autoscaleMinn": ("istiod", _rename, ["pilot", "autoscaleMin"], "autoscaleMinn",
                             "pilot.autoscaleMinn: not in values.yaml"),
    "istiod-meshConfig-field": ("istiod", _rename, ["meshConfig", "accessLogFile"], "accessLogFil",
                                "meshConfig.accessLogFil: not in istio.mesh.v1alpha1.MeshConfig"),
    "istiod-meshConfig-enum": ("istiod", _set, ["meshConfig", "outboundTrafficPolicy", "mode"], "REGISTRY_ONL",
                               "meshConfig.outboundTrafficPolicy.mode: 'REGISTRY_ONL' is not one of"),
    "istiod-defaults-key": ("istiod", _set, [DEFAULTS_KEY], {"autoscaleMin": 2},
                            f"{DEFAULTS_KEY}: reserved (values.yaml: users should NOT set it"),
    "gateway-defaults-key": ("gateway", _set, ["defaults"], {"service": {"type": "ClusterIP"}},
                             "defaults: reserved (zzz_profile.yaml fails the install on it"),
    "istiod-base-typo": ("istiod", _rename, ["base", "validationFailurePolicy"], "validationFailurePolice",
                         "base.validationFailurePolice: not in values.yaml"),
    "base-typo": ("base", _rename, ["defaultRevision"], "defaultRevison", "defaultRevison: not in values.yaml"),
    "cert-manager-crds-enable": ("cert-manager", _rename, ["crds", "enabled"], "enable",
                                 f"crds.enable: {NOT_IN_CHART}"),
    "cert-manager-pdb-minAvailble": ("cert-manager", _rename, ["podDisruptionBudget", "minAvailable"],
                                     "minAvailble", f"podDisruptionBudget.minAvailble: {NOT_IN_CHART}"),
}


@pytest.mark.parametrize("fault", sorted(PLANTED))
def test_a_planted_fault_is_reported_with_its_full_path(all_releases, fault):
    chart_name, edit, path, new, expected = PLANTED[fault]
    chart = charts()[chart_name]
    values = real_values(all_releases, chart_name)
    assert check_values(chart, values).problems == []
    edit(values, path, new)
    problems = check_values(chart, values).problems
    assert any(p.startswith(expected) for p in problems), problems


def test_schema_validation_catches_what_the_schema_forbids(all_releases):
    values = real_values(all_releases, "cert-manager")
    _rename(values, ["crds", "enabled"], "enable")
    assert any("'enable' was unexpected" in p for p in schema_problems(charts()["cert-manager"], values))
    values = real_values(all_releases, "gateway")
    _set(values, ["service", "loadBalancerIP"], 203)
    assert "service.loadBalancerIP: 203 is not of type 'string'" in schema_problems(
        charts()["gateway"], values)


def test_the_legacy_pilot_prefix_and_the_top_level_form_are_both_values():
    istiod = charts()["istiod"]
    for values in ({"pilot": {"autoscaleMin": 2, "autoscaleMax": 5}},
                   {"autoscaleMin": 2, "autoscaleMax": 5},
                   {"pilot": {"resources": {"requests": {"cpu": "1"}}, "env": {"A": "b"},
                              "affinity": {"nodeAffinity": {}}}}):
        assert check_values(istiod, values).problems == [], values
    assert check_values(istiod, {"pilot": {"affinity": {"nodeAfinity": {}}}}).problems == [
        f"pilot.affinity.nodeAfinity: not in Kubernetes {KUBERNETES_VERSION} io.k8s.api.core.v1.Affinity or values.yaml"]
    # Only istiod descopes `pilot`; elsewhere it is an ordinary (unknown) key.
    assert check_values(charts()["base"], {"pilot": {"autoscaleMin": 2}}).problems == [
        "pilot: not in values.yaml"]
