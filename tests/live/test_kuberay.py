"""The KubeRay manifests (live/k8s/ray/), checked without a cluster or the operator.

Kubernetes' own objects and every pod template embedded in a KubeRay resource (the head, each
worker group, the RayJob's submitter; the autoscaler sidecar as the container KubeRay builds from
``autoscalerOptions``) are validated strictly against the OpenAPI schemas of the Kubernetes version
test_deploy pins (``kubernetes-validate``). The KubeRay resources themselves have no schema there:
their keys are checked against the allow-lists below, written from the CRDs of KubeRay v1.7.0
(github.com/ray-project/kuberay, tag v1.7.0, commit 59d663aeec13760646da3db9c1cf8cfe883e30b7,
``ray-operator/config/crd/bases/ray.io_rayclusters.yaml`` and ``ray.io_rayjobs.yaml``, version
v1; enums from ``ray-operator/apis/ray/v1/rayjob_types.go``). Then the wiring: our image at
pyproject's version, ``rayVersion`` at pyproject's Ray pin, one shared volume at one path, a
RayJob whose ``amm sweep`` command parses and whose sweep file loads.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.live.test_deploy import KUBERNETES_VERSION

REPO = Path(__file__).resolve().parents[2]
RAY_K8S = REPO / "live" / "k8s" / "ray"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())

# -- KubeRay v1 field names (CRDs of v1.7.0, see the module docstring) -----------------------------
TOP_LEVEL = {"apiVersion", "kind", "metadata", "spec"}
RAYCLUSTER_SPEC = {
    "authOptions", "autoscalerOptions", "enableInTreeAutoscaling", "gcsFaultToleranceOptions",
    "headGroupSpec", "headServiceAnnotations", "historyServerOptions", "managedBy", "networkPolicy",
    "rayVersion", "suspend", "tlsOptions", "upgradeStrategy", "workerGroupSpecs",
}
HEAD_GROUP = {"enableIngress", "headService", "ingressOptions", "labels", "rayStartParams", "resources", "serviceType", "template"}
WORKER_GROUP = {
    "groupName", "idleTimeoutSeconds", "labels", "maxReplicas", "minReplicas", "numOfHosts", "priority",
    "rayStartParams", "replicas", "resources", "scaleStrategy", "suspend", "template",
}
WORKER_GROUP_REQUIRED = {"groupName", "maxReplicas", "minReplicas", "template"}
AUTOSCALER_OPTIONS = {
    "args", "command", "env", "envFrom", "idleTimeoutSeconds", "image", "imagePullPolicy", "resources",
    "securityContext", "upscalingMode", "version", "volumeMounts",
}
AUTOSCALER_CONTAINER_FIELDS = {"args", "command", "env", "envFrom", "image", "imagePullPolicy", "resources", "securityContext", "volumeMounts"}
UPSCALING_MODES = {"Default", "Aggressive", "Conservative"}
AUTOSCALER_VERSIONS = {"v1", "v2"}
RAYJOB_SPEC = {
    "activeDeadlineSeconds", "backoffLimit", "clusterSelector", "deletionStrategy", "entrypoint",
    "entrypointNumCpus", "entrypointNumGpus", "entrypointResources", "jobId", "managedBy", "metadata",
    "preRunningDeadlineSeconds", "rayClusterSpec", "runtimeEnvYAML", "shutdownAfterJobFinishes",
    "submissionMode", "submitterConfig", "submitterPodTemplate", "suspend", "ttlSecondsAfterFinished",
}
SUBMITTER_CONFIG = {"backoffLimit"}
SUBMISSION_MODES = {"K8sJobMode", "HTTPMode", "InteractiveMode", "SidecarMode"}
CLUSTER_SELECTOR_KEY = "ray.io/cluster"  # utils.RayJobClusterSelectorKey
SHELL_OPERATORS = re.compile(r"[;&|<>`$()]")


def _docs() -> list[tuple[Path, dict]]:
    return [(path, doc) for path in sorted(RAY_K8S.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc]


def _one(kind: str) -> dict:
    (doc,) = [d for _, d in _docs() if d["kind"] == kind]
    return doc


def _templates() -> dict[str, dict]:
    """Every pod template KubeRay turns into pods, by where it sits."""
    cluster = _one("RayCluster")["spec"]
    out = {"headGroupSpec": cluster["headGroupSpec"]["template"]}
    out |= {f"workerGroupSpecs[{g['groupName']}]": g["template"] for g in cluster["workerGroupSpecs"]}
    job = _one("RayJob")["spec"]
    if "submitterPodTemplate" in job:
        out["submitterPodTemplate"] = job["submitterPodTemplate"]
    return out


def _ray_pin() -> tuple[set[str], str]:
    """pyproject's Ray requirement: its extras and its exact version."""
    (pin,) = [d for d in PYPROJECT["project"]["dependencies"] if re.match(r"ray(\[|==)", d)]
    m = re.fullmatch(r"ray(?:\[([a-z,\s-]+)\])?==([0-9.]+)", pin)
    assert m, f"pyproject.toml: {pin!r} is not an exact pin"
    return {e.strip() for e in (m.group(1) or "").split(",") if e.strip()}, m.group(2)


def _image() -> str:
    return f"automated-market-making:{PYPROJECT['project']['version']}"


# -- Kubernetes' own schemas -----------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(RAY_K8S.glob("*.yaml")), ids=lambda p: p.name)
def test_core_objects_are_valid_for_the_pinned_kubernetes_version(path):
    import kubernetes_validate  # a test extra

    for doc in yaml.safe_load_all(path.read_text()):
        if doc["apiVersion"].startswith(("ray.io/", "kustomize.config.k8s.io/")):
            continue  # no schema in kubernetes-validate: the tests below
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("where", sorted(_templates()))
def test_pod_templates_are_valid_pod_template_specs(where):
    """Each embedded template, wrapped in a core/v1 PodTemplate, is a strict PodTemplateSpec."""
    import kubernetes_validate

    wrapped = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "amm-ray"}, "template": _templates()[where]}
    kubernetes_validate.validate(wrapped, KUBERNETES_VERSION, strict=True)


def test_autoscaler_sidecar_is_a_valid_container():
    """KubeRay copies these ``autoscalerOptions`` into the sidecar's container on the head pod:
    validated there, its volume mounts resolved against the head's volumes."""
    import kubernetes_validate

    spec = _one("RayCluster")["spec"]
    options = spec["autoscalerOptions"]
    head = spec["headGroupSpec"]["template"]["spec"]
    container = {"name": "autoscaler", "image": head["containers"][0]["image"]}
    container |= {k: v for k, v in options.items() if k in AUTOSCALER_CONTAINER_FIELDS}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "amm-ray-head"}, "spec": {**head, "containers": [container]}}
    kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)
    volumes = {v["name"] for v in head["volumes"]}
    assert {m["name"] for m in options.get("volumeMounts", [])} <= volumes


# -- KubeRay's field names -------------------------------------------------------------------------


def test_raycluster_uses_kuberay_v1_fields():
    doc = _one("RayCluster")
    assert doc["apiVersion"] == "ray.io/v1"
    assert set(doc) <= TOP_LEVEL, set(doc) - TOP_LEVEL
    spec = doc["spec"]
    assert set(spec) <= RAYCLUSTER_SPEC, set(spec) - RAYCLUSTER_SPEC
    assert set(spec["headGroupSpec"]) <= HEAD_GROUP, set(spec["headGroupSpec"]) - HEAD_GROUP
    assert set(spec["autoscalerOptions"]) <= AUTOSCALER_OPTIONS, set(spec["autoscalerOptions"]) - AUTOSCALER_OPTIONS
    assert spec["autoscalerOptions"]["upscalingMode"] in UPSCALING_MODES
    assert spec["autoscalerOptions"]["version"] in AUTOSCALER_VERSIONS
    names = [g["groupName"] for g in spec["workerGroupSpecs"]]
    assert names and len(set(names)) == len(names), names
    for group in spec["workerGroupSpecs"]:
        assert WORKER_GROUP_REQUIRED <= set(group) <= WORKER_GROUP, set(group) ^ WORKER_GROUP_REQUIRED
    for params in [spec["headGroupSpec"]["rayStartParams"], *(g["rayStartParams"] for g in spec["workerGroupSpecs"])]:
        # map[string]string in the CRD: num-cpus: 0 (an int) is rejected by the API server.
        assert all(isinstance(v, str) for v in params.values()), params


def test_rayjob_uses_kuberay_v1_fields():
    doc = _one("RayJob")
    assert doc["apiVersion"] == "ray.io/v1"
    assert set(doc) <= TOP_LEVEL, set(doc) - TOP_LEVEL
    spec = doc["spec"]
    assert set(spec) <= RAYJOB_SPEC, set(spec) - RAYJOB_SPEC
    assert set(spec.get("submitterConfig", {})) <= SUBMITTER_CONFIG
    assert spec.get("submissionMode", "K8sJobMode") in SUBMISSION_MODES


def test_rayjob_respects_kuberays_cluster_selector_rules():
    """What ray-operator/controllers/ray/utils/validation.go (v1.7.0) rejects with clusterSelector."""
    spec = _one("RayJob")["spec"]
    cluster = _one("RayCluster")
    assert ("clusterSelector" in spec) != ("rayClusterSpec" in spec), "one of clusterSelector or rayClusterSpec"
    assert spec["clusterSelector"] == {CLUSTER_SELECTOR_KEY: cluster["metadata"]["name"]}
    assert _one("RayJob")["metadata"]["namespace"] == cluster["metadata"]["namespace"]
    assert not spec.get("suspend") and spec.get("backoffLimit", 0) == 0
    assert spec.get("submissionMode", "K8sJobMode") != "SidecarMode"


# -- the wiring ------------------------------------------------------------------------------------


def test_every_container_runs_our_image_at_the_project_version():
    spec = _one("RayCluster")["spec"]
    for where, template in _templates().items():
        for c in template["spec"]["containers"]:
            assert c["image"] == _image(), f"{where}: {c['image']}"
    assert spec["autoscalerOptions"].get("image", _image()) == _image()
    live = yaml.safe_load((REPO / "live" / "k8s" / "deployment.yaml").read_text())
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == _image()


def test_ray_version_matches_the_pin_and_the_image_can_serve_jobs():
    extras, version = _ray_pin()
    assert _one("RayCluster")["spec"]["rayVersion"] == version
    # Without ray[default] `ray start --head` runs "minimal": no dashboard, so no Jobs API for the
    # RayJob and no /api/healthz for the probes KubeRay adds; Tune needs ray[tune].
    assert {"default", "tune"} <= extras, f"pyproject.toml: ray{sorted(extras)}=={version}"


def test_kuberay_generates_the_ray_commands():
    """KubeRay writes the ray containers' command (and the submitter's, when it has none): a
    command or args here would be run before ``ray start`` instead of overriding ``amm``."""
    for where, template in _templates().items():
        (container, *_) = template["spec"]["containers"]
        assert "command" not in container and "args" not in container, where
        assert "ray.io/overwrite-container-cmd" not in template.get("metadata", {}).get("annotations", {}), where


def test_pods_run_as_the_images_non_root_user():
    dockerfile = (REPO / "Dockerfile").read_text()
    uid = int(re.findall(r"^USER\s+(\d+)", dockerfile, flags=re.M)[-1])
    for where, template in _templates().items():
        pod = template["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod["securityContext"]["runAsUser"] == uid, where
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"]["drop"] == ["ALL"], where
            if sc.get("readOnlyRootFilesystem"):
                assert "/tmp" in {m["mountPath"] for m in c.get("volumeMounts", [])}, f"{where}: Ray writes /tmp/ray"
    sidecar = _one("RayCluster")["spec"]["autoscalerOptions"]["securityContext"]
    assert sidecar["allowPrivilegeEscalation"] is False and sidecar["capabilities"]["drop"] == ["ALL"]


def test_resources_and_autoscaling_bounds():
    spec = _one("RayCluster")["spec"]
    assert spec["enableInTreeAutoscaling"] is True
    for where, template in _templates().items():
        (container, *_) = template["spec"]["containers"]
        res = container["resources"]
        assert {"cpu", "memory"} <= set(res["requests"]) and {"cpu", "memory"} <= set(res["limits"]), where
    groups = [spec["headGroupSpec"], *spec["workerGroupSpecs"]]
    for group in groups:
        limits = group["template"]["spec"]["containers"][0]["resources"]["limits"]
        # KubeRay passes the CPU limit as `ray start --num-cpus` rounded up: 1500m would promise 2.
        assert re.fullmatch(r"\d+", str(limits["cpu"])), limits
    for g in spec["workerGroupSpecs"]:
        assert 0 <= g["minReplicas"] <= g.get("replicas", g["minReplicas"]) <= g["maxReplicas"], g["groupName"]
        assert g["maxReplicas"] >= 1
    # The head only drives: trials go to the workers (and the autoscaler adds them on demand).
    assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"


def _mount_of(template: dict, claim: str) -> str:
    pod = template["spec"]
    names = {v["name"] for v in pod["volumes"] if v.get("persistentVolumeClaim", {}).get("claimName") == claim}
    (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] in names]
    assert not mount.get("readOnly") and "subPath" not in mount
    return mount["mountPath"]


def test_one_shared_volume_at_one_path_on_head_and_workers():
    (pvc,) = [d for _, d in _docs() if d["kind"] == "PersistentVolumeClaim"]
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"], "workers on many nodes write trials and read the catalog"
    claim = pvc["metadata"]["name"]
    spec = _one("RayCluster")["spec"]
    ray_pods = {"head": spec["headGroupSpec"]["template"]} | {g["groupName"]: g["template"] for g in spec["workerGroupSpecs"]}
    paths = {where: _mount_of(t, claim) for where, t in ray_pods.items()}
    assert len(set(paths.values())) == 1, paths
    (path,) = set(paths.values())
    for where, template in ray_pods.items():
        # Relative paths in the shipped configs (backtests/..., catalogs/...) resolve on the volume.
        assert template["spec"]["containers"][0]["workingDir"] == path, where
    assert all(d["metadata"]["namespace"] == pvc["metadata"]["namespace"] for _, d in _docs() if d["kind"] not in ("Namespace", "Kustomization"))


def _entrypoint() -> list[str]:
    entrypoint = _one("RayJob")["spec"]["entrypoint"]
    # KubeRay pastes the entrypoint unquoted into the submitter's bash command (job.go,
    # BuildJobSubmitCommand): an operator there would run in the submitter, not on the cluster.
    assert not SHELL_OPERATORS.search(entrypoint), entrypoint
    return shlex.split(entrypoint)


def test_rayjob_runs_amm_sweep_on_the_cluster_into_the_shared_volume():
    import typer.main

    from amm.cli import app

    argv = _entrypoint()
    assert argv[:2] == ["amm", "sweep"], argv
    ctx = typer.main.get_command(app).commands["sweep"].make_context("sweep", argv[2:])  # parses, runs nothing
    assert ctx.params["address"] == "auto"
    spec = _one("RayCluster")["spec"]
    (pvc,) = [d for _, d in _docs() if d["kind"] == "PersistentVolumeClaim"]
    shared = Path(_mount_of(spec["headGroupSpec"]["template"], pvc["metadata"]["name"]))
    assert ctx.params["out"].is_absolute() and ctx.params["out"].is_relative_to(shared), ctx.params["out"]
    assert not ctx.params["config"].is_absolute(), "a repository path, copied onto the volume"


def test_rayjob_sweep_file_ships_and_loads(monkeypatch):
    """The sweep the RayJob names is in the repository and loads, with its run file, from the
    repository root, which is what the volume mirrors; its catalog is relative, so on the
    cluster it resolves on the volume, not on the laptop that wrote the file."""
    from backtests.sweep import load_sweep

    argv = _entrypoint()
    config = Path(argv[argv.index("--config") + 1])
    assert (REPO / config).is_file(), config
    monkeypatch.chdir(REPO)
    sweep = load_sweep(config)
    assert not Path(sweep.table.run).is_absolute() and not sweep.base.catalog.is_absolute()


def test_kustomization_lists_every_manifest_but_the_jobs():
    (kust,) = [d for _, d in _docs() if d["kind"] == "Kustomization"]
    listed = [RAY_K8S / r for r in kust["resources"]]
    assert all(p.exists() for p in listed), listed
    files = {p: [d["kind"] for d in yaml.safe_load_all(p.read_text()) if d] for p in RAY_K8S.glob("*.yaml")}
    jobs = {p for p, kinds in files.items() if "RayJob" in kinds}
    # A RayJob starts a sweep when applied: created by hand once the catalog is on the volume.
    expected = {p for p, kinds in files.items() if kinds != ["Kustomization"]} - jobs
    assert set(listed) == expected, set(listed) ^ expected
    assert jobs, "the example RayJob"
    namespaces = {d["metadata"]["name"] for _, d in _docs() if d["kind"] == "Namespace"}
    assert {kust["namespace"]} == namespaces
