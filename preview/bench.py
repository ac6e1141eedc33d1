"""``make bench``: how long an offline preview takes on this machine, and how it scales.

Each case is a fresh ``python`` process (what a user or CI pays), run several times; the table
shows the median and its ratio to the import floor. Written to ``build/bench.json``.

- ``import floor``: ``import pulumi, pulumi_gcp, pulumi_kubernetes, pulumi_tls`` (the providers'
  top-level packages are lazy, so this is the least any Pulumi program pays);
- ``owner classes floor`` / ``attached classes floor``: the same plus loading exactly the provider
  classes that stack declares (``pulumi_gcp.compute`` alone is ~0.8 s: its package loads every
  compute resource), the floor no program declaring them can go under;
- previews of dev and of an attached stack, without and with the manifest schema checks (with
  is what ``make preview`` does), of generated owners with 3/30/300 routes and of one attached
  stack in projects of 1/10/50 environments (its load reads every sibling stack file);
- the fleet: ``make preview-all`` over the project of 50 environments (each previewed with the
  schema checks, then the policy pack), in one process, against one owner preview with the schema
  checks (goal: at most 3×) and against 50 separate processes, estimated as that owner preview
  plus 49 × the median of one attached stack of the 50 with the schema checks (fresh processes);
- with ``--suite`` (``make bench SUITE=1``), one run of the whole test suite, as ``make test``.

Timings depend on the machine, so it is printed first (cores this process may use, CPU model
from ``/proc/cpuinfo``, memory, OS, Python) and recorded in ``bench.json``; ``--machine`` prints
only that.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
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


def sample(command: list[str], runs: int = RUNS) -> list[float]:
    """Wall seconds of ``runs`` fresh runs of ``command``; it must succeed."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, cwd=PROJECT_DIR, check=True, capture_output=True)
        samples.append(time.perf_counter() - started)
    return samples


def preview_command(stack: str, project: Path, build: Path, schemas: bool = False) -> list[str]:
    """The CLI `make preview` runs; with ``schemas`` the manifest schema and CEL checks that
    `make preview` does by default (without: the program alone)."""
    return [sys.executable, "-m", "preview", stack, "--project-dir", str(project), "--build-dir", str(build),
            *([] if schemas else ["--no-schemas"])]


def fleet_command(project: Path, build: Path) -> list[str]:
    """What `make preview-all` runs over ``project``: every stack previewed with the schema
    checks and policy-checked, in one process."""
    return [sys.executable, "-m", "preview.fleet", "--project-dir", str(project), "--build-dir", str(build)]


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


def _cpuinfo_model(text: str) -> str | None:
    """The CPU model in ``/proc/cpuinfo`` text (x86 ``model name``, or ARM's ``Model``/``Hardware``)."""
    for key in ("model name", "Model", "Hardware", "cpu model"):
        for line in text.splitlines():
            name, sep, value = line.partition(":")
            if sep and name.strip() == key and value.strip():
                return value.strip()
    return None


def machine() -> dict:
    """What the numbers depend on: cores this process may use, CPU model, memory, OS, Python."""
    cpuinfo = _read("/proc/cpuinfo")
    meminfo = _read("/proc/meminfo")
    memory = next((int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal:")), None)
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 0
    return {"cpus": usable, "cpus_online": os.cpu_count() or 0,
            "cpu_model": _cpuinfo_model(cpuinfo) or platform.processor() or platform.machine() or "unknown",
            "memory_gib": round(memory / 2**20, 1) if memory else None,
            "os": f"{platform.system()} {platform.release()}",
            "python": f"{platform.python_implementation()} {platform.python_version()}"}


def describe(m: dict) -> str:
    cores = f"{m['cpus']} cores" + (f" (of {m['cpus_online']})" if m["cpus_online"] != m["cpus"] else "")
    memory = f", {m['memory_gib']} GiB" if m.get("memory_gib") else ""
    return f"{cores}, {m['cpu_model']}{memory}, {m['os']}, {m['python']}"


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def time_suite() -> tuple[float, int]:
    """Wall seconds of one fresh ``python -m pytest -q`` (what ``make test`` runs) and its exit code."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q"],
                          cwd=PROJECT_DIR, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        print(done.stdout[-3000:], file=sys.stderr)
    return seconds, done.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--machine", action="store_true", help="only print the machine and exit")
    parser.add_argument("--suite", action="store_true",
                        help="also time the whole test suite once (what `make test` runs; about a minute)")
    parser.add_argument("--runs", type=int, default=RUNS, help=f"fresh processes per case (default {RUNS})")
    args = parser.parse_args(argv)
    this = machine()
    print(f"machine: {describe(this)}")
    if args.machine:
        return 0
    runs = max(1, args.runs)
    rows: list[dict] = []
    floor_samples = sample([sys.executable, "-c", IMPORT_FLOOR], runs)
    floor = statistics.median(floor_samples)

    def row(case: str, samples: list[float], resources: int | None = None) -> None:
        # The median is what a run costs here; the fastest run, what it costs on a quiet machine
        # (a shared or busy machine spreads the samples, never below the fastest).
        seconds = statistics.median(samples)
        rows.append({"case": case, "median_s": round(seconds, 3), "min_s": round(min(samples), 3),
                     "x_floor": round(seconds / floor, 2), "resources": resources})
        print(f"  {case:<34} {seconds:6.2f} s (fastest {min(samples):5.2f})  {seconds / floor:5.1f}x",
              file=sys.stderr)

    print(f"benchmark: median of {runs} fresh processes each", file=sys.stderr)
    row("import floor", floor_samples)
    row("owner classes floor", sample([sys.executable, "-c", OWNER_CLASSES], runs))
    row("attached classes floor", sample([sys.executable, "-c", ATTACHED_CLASSES], runs))
    with tempfile.TemporaryDirectory() as tmp:
        build = Path(tmp) / "build"
        row("preview dev (owner)", sample(preview_command("dev", PROJECT_DIR, build), runs),
            _count(build, "dev"))
        row("preview test (attached)", sample(preview_command("test", PROJECT_DIR, build), runs),
            _count(build, "test"))
        # What `make preview STACK=...` runs: the schema checks are on by default.
        row("preview dev with schema checks", sample(preview_command("dev", PROJECT_DIR, build, True), runs),
            _count(build, "dev"))
        row("preview test with schema checks", sample(preview_command("test", PROJECT_DIR, build, True), runs),
            _count(build, "test"))
        for count in (3, 30, 300):
            project = write(Path(tmp) / f"routes{count}", with_routes(count))
            row(f"owner with {count} routes", sample(preview_command("dev", project, build / f"r{count}"), runs),
                _count(build / f"r{count}", "dev"))
        for count in (1, 10, 50):
            project = write(Path(tmp) / f"envs{count}", with_environments(count))
            stack = f"env{count - 1}" if count > 1 else "dev"
            row(f"1 of {count} environments ({stack})",
                sample(preview_command(stack, project, build / f"e{count}"), runs),
                _count(build / f"e{count}", stack))
        fleet = fleet_case(Path(tmp), build, runs, row)
    suite = None
    if args.suite:
        print("  test suite (python -m pytest -q, once) ...", file=sys.stderr)
        seconds, code = time_suite()
        suite = {"seconds": round(seconds, 1), "exit_code": code}
        print(f"  {'test suite (make test)':<34} {seconds:6.1f} s  exit {code}", file=sys.stderr)

    by_case = {r["case"]: r["median_s"] for r in rows}
    fleet.update(fleet_ratios(by_case))
    summary = {
        "routes_300_vs_3": round(by_case["owner with 300 routes"] / by_case["owner with 3 routes"], 2),
        "envs_50_vs_10_attached": round(by_case["1 of 50 environments (env49)"]
                                       / by_case["1 of 10 environments (env9)"], 2),
        "dev_vs_owner_classes_floor": round(by_case["preview dev (owner)"] / by_case["owner classes floor"], 2),
        "attached_vs_attached_classes_floor": round(by_case["preview test (attached)"]
                                                    / by_case["attached classes floor"], 2),
        "fleet_50_vs_dev_preview": fleet["fleet_vs_one_owner_preview"],
        "separate_50_estimate_vs_fleet_50": fleet["separate_estimate_vs_fleet"],
    }
    out = PROJECT_DIR / "build" / "bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"machine": this, "runs": runs, "rows": rows, "ratios": summary,
                               "fleet": fleet, "suite": suite}, indent=2) + "\n")
    print(f"\nOn {describe(this)}; median of {runs} fresh processes, previews without the schema "
          "checks unless said:")
    print("\n| case | median s | fastest s | × import floor | resources |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['median_s']:.2f} | {r['min_s']:.2f} | {r['x_floor']:.1f} | "
              f"{r['resources'] or ''} |")
    if suite:
        print(f"\ntest suite (`make test`, one run): {suite['seconds']:.0f} s"
              + ("" if suite["exit_code"] == 0 else f", FAILED (exit {suite['exit_code']})"))
    print(f"\nfleet of {FLEET} (make preview-all, one process): {fleet['fleet_s']:.2f} s = "
          f"{fleet['fleet_vs_one_owner_preview']:.2f}x one owner preview with the schema checks "
          f"({fleet['one_owner_preview_s']:.2f} s; goal <= 3x); {FLEET} separate processes, estimated "
          f"({fleet['separate_estimate_basis']}): {fleet['separate_estimate_s']:.1f} s = "
          f"{fleet['separate_estimate_vs_fleet']:.1f}x the fleet")
    print("\n" + ", ".join(f"{k} = {v}" for k, v in summary.items()))
    print(f"wrote {out}")
    return 0 if not suite or suite["exit_code"] == 0 else 1


FLEET = 50
FLEET_CASE = f"fleet of {FLEET}: make preview-all"
ATTACHED_OF_FLEET = f"1 of {FLEET} environments with schema checks"


def fleet_case(tmp: Path, build: Path, runs: int, row: Callable[[str, list[float], int | None], None]) -> dict:
    """Times the fleet and the attached stack the separate-process estimate multiplies."""
    project, stack = write(tmp / f"fleet{FLEET}", with_environments(FLEET)), f"env{FLEET - 1}"
    row(FLEET_CASE, sample(fleet_command(project, build / "fleet"), runs),
        sum(_count(build / "fleet", name) for name in StackSet.names_in(project)))
    # After the fleet: the owner's plan is there, so this times the attached stack alone.
    row(ATTACHED_OF_FLEET, sample(preview_command(stack, project, build / "fleet", True), runs),
        _count(build / "fleet", stack))
    return {"environments": FLEET, "schema_checks": True, "policy_pack": True}


def fleet_ratios(by_case: dict[str, float]) -> dict:
    """The fleet against one owner preview and against one process per stack (estimated)."""
    owner = by_case["preview dev with schema checks"]
    separate = owner + (FLEET - 1) * by_case[ATTACHED_OF_FLEET]
    return {"fleet_s": by_case[FLEET_CASE], "one_owner_preview_s": owner,
            "separate_estimate_s": round(separate, 2),
            "separate_estimate_basis": f"preview dev with schema checks + {FLEET - 1} x the median "
                                       f"'{ATTACHED_OF_FLEET}', fresh processes; the policy pack's own "
                                       "processes not counted",
            "fleet_vs_one_owner_preview": round(by_case[FLEET_CASE] / owner, 2),
            "separate_estimate_vs_fleet": round(separate / by_case[FLEET_CASE], 2)}


def _count(build: Path, stack: str) -> int:
    return len(json.loads((build / stack / "plan.json").read_text())["resources"])


if __name__ == "__main__":
    sys.exit(main())
