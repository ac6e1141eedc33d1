"""``make bench``: how long an offline preview takes on this machine, and how it scales.

Each case is a fresh ``python`` process (what a user or CI pays), run several times; the table
shows the median and its ratio to the import floor. Written to ``build/bench.json``.

- ``import floor``: ``import pulumi, pulumi_gcp, pulumi_kubernetes, pulumi_tls`` (the providers'
  top-level packages are lazy, so this is the least any Pulumi program pays);
- ``owner classes floor`` / ``attached classes floor``: the same plus loading exactly the provider
  classes that stack declares (``pulumi_gcp.compute`` alone is ~0.8 s: its package loads every
  compute resource), the floor no program declaring them can go under;
- previews of dev, of an attached stack, of generated owners with 3/30/300 routes and of one
  attached stack in projects of 1/10/50 environments (its load reads every sibling stack file).
"""

from __future__ import annotations

import copy
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from components.stackset import StackSet

from . import PROJECT_DIR

RUNS = 5
IMPORT_FLOOR = "import pulumi, pulumi_gcp, pulumi_kubernetes, pulumi_tls"
OWNER_CLASSES = (IMPORT_FLOOR + ", yaml; g, k, t = pulumi_gcp, pulumi_kubernetes, pulumi_tls; "
                 "g.compute.Address; g.container.Cluster; g.dns.RecordSet; g.serviceaccount.Account; "
                 "g.projects.IAMMember; g.Provider; k.core.v1.Namespace; k.helm.v3.Release; "
                 "k.apiextensions.CustomResource; k.Provider; t.PrivateKey")
ATTACHED_CLASSES = (IMPORT_FLOOR + ", yaml; g, k = pulumi_gcp, pulumi_kubernetes; g.dns.RecordSet; "
                    "g.Provider; k.core.v1.Namespace; k.apiextensions.CustomResource; k.Provider")


def timed(command: list[str], runs: int = RUNS) -> float:
    """Median wall seconds of ``command``; it must succeed."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, cwd=PROJECT_DIR, check=True, capture_output=True)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def preview_command(stack: str, project: Path, build: Path, schemas: bool = False) -> list[str]:
    """The CLI `make preview` runs; the schema checks (a Node.js run) are timed as their own row."""
    return [sys.executable, "-m", "preview", stack, "--project-dir", str(project), "--build-dir", str(build),
            *([] if schemas else ["--no-schemas"])]


def shipped() -> dict[str, dict]:
    return {stack.file_name: {"config": dict(stack.config)} for stack in StackSet.load(PROJECT_DIR)}


def write(project: Path, files: dict[str, dict]) -> Path:
    project.mkdir(parents=True, exist_ok=True)
    for name, document in files.items():
        (project / name).write_text(yaml.safe_dump(document, sort_keys=False))
    return project


def with_routes(count: int) -> dict[str, dict]:
    files = {"Pulumi.dev.yaml": copy.deepcopy(shipped()["Pulumi.dev.yaml"])}
    environment = files["Pulumi.dev.yaml"]["config"]["istio-envs:environment"]
    environment["routes"] = [{"path": f"/svc{i}", "service": f"svc{i}", "port": 8080} for i in range(count)]
    environment["auth"]["publicPaths"] = []
    return files


def with_environments(count: int) -> dict[str, dict]:
    files = {"Pulumi.dev.yaml": copy.deepcopy(shipped()["Pulumi.dev.yaml"])}
    template = shipped()["Pulumi.test.yaml"]
    for i in range(1, count):
        name = f"env{i}"
        document = copy.deepcopy(template)
        document["config"]["istio-envs:environment"]["auth"]["audiences"] = [f"https://{name}.api.example.com"]
        files[f"Pulumi.{name}.yaml"] = document
    return files


def main() -> int:
    rows: list[dict] = []
    floor = timed([sys.executable, "-c", IMPORT_FLOOR])

    def row(case: str, seconds: float, resources: int | None = None) -> None:
        rows.append({"case": case, "median_s": round(seconds, 3), "x_floor": round(seconds / floor, 2),
                     "resources": resources})
        print(f"  {case:<34} {seconds:6.2f} s  {seconds / floor:5.1f}x", file=sys.stderr)

    print(f"benchmark: median of {RUNS} fresh processes each", file=sys.stderr)
    row("import floor", floor)
    row("owner classes floor", timed([sys.executable, "-c", OWNER_CLASSES]))
    row("attached classes floor", timed([sys.executable, "-c", ATTACHED_CLASSES]))
    with tempfile.TemporaryDirectory() as tmp:
        build = Path(tmp) / "build"
        row("preview dev (owner)", timed(preview_command("dev", PROJECT_DIR, build)),
            _count(build, "dev"))
        row("preview test (attached)", timed(preview_command("test", PROJECT_DIR, build)),
            _count(build, "test"))
        row("preview dev with schema checks", timed(preview_command("dev", PROJECT_DIR, build, True)),
            _count(build, "dev"))
        for count in (3, 30, 300):
            project = write(Path(tmp) / f"routes{count}", with_routes(count))
            row(f"owner with {count} routes", timed(preview_command("dev", project, build / f"r{count}")),
                _count(build / f"r{count}", "dev"))
        for count in (1, 10, 50):
            project = write(Path(tmp) / f"envs{count}", with_environments(count))
            stack = f"env{count - 1}" if count > 1 else "dev"
            row(f"1 of {count} environments ({stack})",
                timed(preview_command(stack, project, build / f"e{count}")),
                _count(build / f"e{count}", stack))

    by_case = {r["case"]: r["median_s"] for r in rows}
    summary = {
        "routes_300_vs_3": round(by_case["owner with 300 routes"] / by_case["owner with 3 routes"], 2),
        "envs_50_vs_10_attached": round(by_case["1 of 50 environments (env49)"]
                                       / by_case["1 of 10 environments (env9)"], 2),
        "dev_vs_owner_classes_floor": round(by_case["preview dev (owner)"] / by_case["owner classes floor"], 2),
        "attached_vs_attached_classes_floor": round(by_case["preview test (attached)"]
                                                    / by_case["attached classes floor"], 2),
    }
    out = PROJECT_DIR / "build" / "bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"machine": {"python": platform.python_version(), "cpus": _cpus()},
                               "runs": RUNS, "rows": rows, "ratios": summary}, indent=2) + "\n")
    print("\n| case | median s | × import floor | resources |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['median_s']:.2f} | {r['x_floor']:.1f} | {r['resources'] or ''} |")
    print("\n" + ", ".join(f"{k} = {v}" for k, v in summary.items()))
    print(f"wrote {out}")
    return 0


def _count(build: Path, stack: str) -> int:
    return len(json.loads((build / stack / "plan.json").read_text())["resources"])


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    sys.exit(main())
