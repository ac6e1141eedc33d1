"""``istio-envs:platform.mesh``: the Istio control planes the owner installs, one istiod per
revision, and the revision tags environments select (``environment.meshRevision``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, Field, WithJsonSchema, model_validator

from ..istio import CANARY, STABLE, revision_name
from ..versions import ISTIO_VERSION, ISTIO_VERSIONS
from . import types as t
from .types import Derived, Model, refuse, show


def _installable(version: str) -> str:
    if version not in ISTIO_VERSIONS:
        raise t.fail(f"got {show(version)}; expected one of {', '.join(ISTIO_VERSIONS)} (the Istio versions "
                     "with vendored definitions: components/versions.py ISTIO_VERSIONS)")
    return version


# The versions with vendored definitions, read from components/versions.py (a pin bumped there is
# installable at once; spelt out here it was a second statement that broke the program).
IstioVersion = Annotated[t.Text, AfterValidator(_installable), WithJsonSchema({"enum": list(ISTIO_VERSIONS)})]
MeshTag = Literal["stable", "canary"]
# Istio CNI 1.x works with control planes 1.x and 1.x+1 (istio/istio.io
# content/en/docs/ambient/upgrade/helm-upgrade/index.md, "Upgrade the CNI DaemonSet"): the node
# agent stays at the oldest revision, so every revision is within one minor of it.
MAX_MINOR_SKEW = 1


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


class MeshRevision(Model):
    """One istiod revision: a control plane of its own (Deployment, Service, webhooks)."""

    version: IstioVersion
    """An Istio version the program has vendored definitions of (components/versions.py
    `ISTIO_VERSIONS`). Its revision is the version with `-` for `.` (`1.30.5`: `1-30-5`), its
    Helm release `istiod-<revision>`."""
    tags: Annotated[tuple[MeshTag, ...], t.Unique] = ()
    """The revision tags that point at it, `stable` and `canary` (each on one revision at most;
    `stable` on exactly one). No tag: still installed, selected by no namespace (after a
    promotion, until it is removed)."""

    @property
    def name(self) -> str:
        return revision_name(self.version)


class MeshConfig(Model):
    """Istio's control planes: one istiod per revision, at most two at once (an upgrade installs
    the new one beside the old as `canary`; see "Upgrading Istio"). The base chart (CRDs) is at the
    newest revision's version, the CNI node agent at the oldest's, the ingress gateway on
    `stable`'s revision."""

    revisions: tuple[MeshRevision, ...] = Field(
        (MeshRevision(version=ISTIO_VERSION, tags=(STABLE,)),), min_length=1, json_schema_extra=Derived(
            f"`[{{version: {ISTIO_VERSION}, tags: [stable]}}]`, the pinned Istio alone"))
    """The installed revisions. Removing one that an environment's tag points at is refused."""

    @model_validator(mode="after")
    def _rules(self) -> Self:
        found: list[tuple[str, str]] = []
        versions = [r.version for r in self.revisions]
        found += [(f"revisions[{i}].version", f"got {show(v)} again; expected each version once")
                  for i, v in enumerate(versions) if v in versions[:i]]
        for tag in (STABLE, CANARY):
            holders = [i for i, r in enumerate(self.revisions) if tag in r.tags]
            if len(holders) > 1:
                found.append((f"revisions[{holders[1]}].tags", f"{tag} is also a tag of revisions"
                              f"[{holders[0]}]; expected a tag to point at one revision"))
            elif tag == STABLE and not holders:
                found.append(("revisions", "no revision is tagged stable; expected exactly one (the "
                              "ingress gateway and every environment without meshRevision run on it)"))
        if len(self.revisions) > 2:
            found.append(("revisions", f"got {len(self.revisions)} revisions; expected at most two "
                          "(the running one and the one an upgrade moves to)"))
        minors = sorted({version_key(v)[:2] for v in versions})
        if len(minors) > 1 and (minors[-1][0] != minors[0][0] or minors[-1][1] - minors[0][1] > MAX_MINOR_SKEW):
            found.append(("revisions", f"got {', '.join(versions)}; expected versions within one minor "
                          "of each other (Istio CNI 1.x works with control planes 1.x and 1.x+1)"))
        refuse(*found)
        ordered = tuple(sorted(self.revisions, key=lambda r: version_key(r.version)))
        return self if ordered == self.revisions else self.model_copy(update={"revisions": ordered})

    def tagged(self, tag: str) -> MeshRevision | None:
        return next((r for r in self.revisions if tag in r.tags), None)

    @property
    def stable(self) -> MeshRevision:
        return next(r for r in self.revisions if STABLE in r.tags)  # the rules: exactly one

    @property
    def tags(self) -> tuple[str, ...]:  # the tags installed, stable first
        return tuple(tag for tag in (STABLE, CANARY) if self.tagged(tag))

    @property
    def oldest(self) -> MeshRevision:  # the revisions are sorted by version
        return self.revisions[0]

    @property
    def newest(self) -> MeshRevision:
        return self.revisions[-1]

    def outputs(self) -> list[dict[str, Any]]:
        """What the owner exports as ``meshRevisions`` (and attached stacks resolve tags with)."""
        return [{"revision": r.name, "version": r.version, "tags": list(r.tags)} for r in self.revisions]
