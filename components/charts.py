"""One way to install an official Helm chart: pinned, atomic, rolled back on failure."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s


def pinned_chart(resource_name: str, *, release: str, chart: str, version: str, repo: str,
                 namespace: pulumi.Input[str], values: dict,
                 opts: pulumi.ResourceOptions) -> k8s.helm.v3.Release:
    """A Helm release of ``chart`` at exactly ``version``. ``atomic``: a failed install or
    upgrade rolls back, so a half-applied chart never stays behind a green ``pulumi up``."""
    return k8s.helm.v3.Release(
        resource_name,
        name=release,
        chart=chart,
        version=version,
        repository_opts={"repo": repo},
        namespace=namespace,
        values=values,
        atomic=True,
        cleanup_on_fail=True,
        timeout=600,
        opts=opts,
    )
