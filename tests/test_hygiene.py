"""Secrets stay secret everywhere a preview writes or prints; two previews are byte-identical."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import EXAMPLES, ROOT, SHIPPED_STACKS
from stackfiles import NS, provided, secrets_for, write_project

from preview import preview_stack

# (and the mock engine's stand-in for a generated key, which must not be written either)
PEM_KEY_MARKERS = ("PRIVATE KEY-----", "BEGIN OPENSSH PRIVATE KEY", "BEGIN EC PRIVATE KEY", "preview: private key")
# Outputs that carry credentials or key material, wherever a stack has them.
SECRET_OUTPUTS = ("kubeconfig", "clientCertificate", "clientPrivateKey")


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def test_no_key_material_anywhere_in_build(build_dir, plans, example_plans):
    written = files_under(build_dir)
    assert len(written) > 50
    for path in written:
        text = path.read_text()
        for marker in PEM_KEY_MARKERS:
            assert marker not in text, path


@pytest.mark.parametrize("stack", SHIPPED_STACKS + sorted(EXAMPLES))
def test_outputs_and_inputs_holding_keys_are_secret(plans, example_plans, stack):
    plan = {**plans, **example_plans}[stack]
    for name in SECRET_OUTPUTS:
        if name in plan["outputs"]:
            assert name in plan["secretOutputs"], name
            assert plan["outputs"][name] == "[secret]", name

    def walk(value, path, key=""):
        if isinstance(value, dict):
            for inner_key, inner in value.items():
                yield from walk(inner, f"{path}.{inner_key}", inner_key)
        elif isinstance(value, list):
            for i, inner in enumerate(value):
                yield from walk(inner, f"{path}[{i}]", key)
        else:
            yield path, key.lower(), value

    checked = 0
    for resource in plan["resources"]:
        for path, leaf, value in walk(resource["inputs"], resource["name"]):
            if "privatekey" in leaf or leaf in ("tls.key", "kubeconfig"):
                assert value == "[secret]", path
                checked += 1
    if stack in ("dev", "mtls", "provided"):
        assert checked >= 2  # pulumi-tls CSR/signing inputs, the Secret's tls.key, the provider


def make_preview(capfd, *args: str) -> tuple[int, str, str]:
    """``python -m preview ARGS`` (``make preview``) by its own entry point, in this process:
    (exit code, stdout, stderr). capfd takes file descriptors 1 and 2 as well as sys.stdout and
    sys.stderr, so whatever the preview prints, by Python or below it, is in what this returns.
    (A fresh process's exit code and terminal: tests/test_bad_config.py, test_preview_all.py.)"""
    from preview.__main__ import main

    capfd.readouterr()
    code = main(list(args))
    out, err = capfd.readouterr()
    return code, out, err


def test_a_provided_key_never_reaches_output_files_or_the_terminal(tmp_path, capfd):
    (tmp_path / "project").mkdir()
    project = write_project(tmp_path / "project", provided(["*.api.example.com"]))
    key = secrets_for(project)[f"{NS}:tlsPrivateKey"]
    key_file = tmp_path / "key.pem"
    key_file.write_text(key)
    build = tmp_path / "build"
    code, out, err = make_preview(capfd, "dev", "--project-dir", str(project), "--build-dir", str(build),
                                  "--secret", f"tlsPrivateKey=@{key_file}")
    assert code == 0, err
    assert "wrote" in out and "running the program for stack dev" in err  # what was checked is the output
    body = [line for line in key.splitlines() if "-----" not in line]
    for text in [out, err] + [p.read_text() for p in files_under(build)]:
        assert not any(marker in text for marker in PEM_KEY_MARKERS)
        assert not any(line in text for line in body)


def test_demo_certificate_preview_prints_and_writes_no_key(tmp_path, capfd):
    code, out, err = make_preview(capfd, "provided", "--demo-certificate", "--build-dir", str(tmp_path))
    assert code == 0, err
    assert "wrote" in out and "running the program for stack provided" in err
    written = files_under(tmp_path)
    assert (tmp_path / "provided" / "plan.json") in written
    for text in [out, err] + [p.read_text() for p in written]:
        assert not any(marker in text for marker in PEM_KEY_MARKERS)


# dev and its attached stack: test_preview_all compares the fleet's with a fresh process's.
@pytest.mark.parametrize("stack", ["mtls", "acme"])
def test_two_previews_are_byte_identical(build_dir, plans, example_plans, tmp_path, stack):
    folder = EXAMPLES.get(stack, ROOT)
    again = tmp_path / "again"
    preview_stack(stack, folder, again)
    first = {p.relative_to(build_dir / stack): p.read_bytes() for p in files_under(build_dir / stack)}
    second = {p.relative_to(again / stack): p.read_bytes() for p in files_under(again / stack)}
    assert sorted(first) == sorted(second)
    for name in first:
        assert first[name] == second[name], name


def test_the_provided_key_is_checked_but_never_kept_in_the_config(tmp_path):
    """The key is read once, wrapped, to compare it with the certificate; the validated config
    (what the program passes around) does not hold it, and its wrapper never prints it."""
    from components.config import SecretText, load

    project = write_project(tmp_path, provided(["*.api.example.com"]))
    key = secrets_for(project)[f"{NS}:tlsPrivateKey"]
    raw = yaml.safe_load((project / "Pulumi.dev.yaml").read_text())["config"]
    values = {name.split(":", 1)[1]: value for name, value in raw.items()}
    values["tlsPrivateKey"] = key  # what the engine hands the program, decrypted
    config = load("dev", project, read=values.get, known_keys=[f"{NS}:{k}" for k in values])
    body = [line for line in key.splitlines() if "-----" not in line]
    assert not any(line in repr(config) for line in body)
    assert repr(SecretText(key)) == str(SecretText(key)) == "SecretText([secret])"
