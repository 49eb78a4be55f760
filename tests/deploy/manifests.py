"""Reading deploy/'s manifests in tests: YAML documents, pod specs, the settings a
container would run with."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import yaml

from parallax.config import CONFIG_FILE_ENV, ENV_PREFIX, Settings, load_settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
WORKLOADS = ("StatefulSet", "Deployment", "DaemonSet")


def documents(path: Path) -> list[dict]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def port_of(address: str) -> int:
    return int(address.rpartition(":")[2])


def settings_from_env(env: Mapping[str, str], config_file: Path | None = None) -> Settings:
    """What `parallax` resolves from these variables (only PARALLAX_* ones count)."""
    chosen = {name: value for name, value in env.items() if name.startswith(ENV_PREFIX)}
    chosen.pop(CONFIG_FILE_ENV, None)
    return load_settings(config_file, env=chosen)


class Pod:
    """The pod template of a workload, with what its main container runs with."""

    def __init__(self, workload: dict, config_maps: dict[str, dict]) -> None:
        self.workload = workload
        self.spec = workload["spec"]["template"]["spec"]
        self.labels = workload["spec"]["template"]["metadata"]["labels"]
        (self.container,) = self.spec["containers"]
        self._config_maps = config_maps

    def env(self) -> dict[str, str]:
        """Literal environment values, with $(VAR) references to fieldRef variables
        replaced by a stand-in ``<VAR>``."""
        values = {}
        for variable in self.container.get("env", []):
            value = variable.get("value", f"<{variable['name']}>")
            values[variable["name"]] = re.sub(r"\$\((\w+)\)", r"<\1>", value)
        return values

    def mount_at(self, path: str) -> dict:
        """The volume mount that holds ``path`` (the longest mount path that does)."""
        mounts = [
            mount
            for mount in self.container["volumeMounts"]
            if path == mount["mountPath"] or path.startswith(mount["mountPath"].rstrip("/") + "/")
        ]
        return max(mounts, key=lambda m: len(m["mountPath"]))

    def volume_at(self, path: str) -> dict:
        """The pod volume mounted where ``path`` is."""
        name = self.mount_at(path)["name"]
        return next(v for v in self.spec["volumes"] if v["name"] == name)

    def settings(self, scratch: Path) -> Settings:
        """The settings the container resolves: its PARALLAX_CONFIG file, taken from the
        ConfigMap mounted there, under its PARALLAX_* variables."""
        env = self.env()
        config_path = env[CONFIG_FILE_ENV]
        volume = self.volume_at(config_path)
        config_map = self._config_maps[volume["configMap"]["name"]]
        key = config_path.rpartition("/")[2]
        config_file = scratch / key
        config_file.write_text(config_map["data"][key])
        return settings_from_env(env, config_file)

    def container_port(self, name_or_number: str | int) -> int:
        if isinstance(name_or_number, int):
            return name_or_number
        ports = self.container["ports"]
        return next(p["containerPort"] for p in ports if p["name"] == name_or_number)


def kubernetes_resources() -> Iterator[tuple[Path, dict]]:
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        if path.name != "kustomization.yaml":
            for resource in documents(path):
                yield path, resource


def applied_resources() -> list[dict]:
    """Every resource `kubectl apply -k deploy/k8s` creates."""
    listed = documents(DEPLOY / "k8s" / "kustomization.yaml")[0]["resources"]
    return [resource for name in listed for resource in documents(DEPLOY / "k8s" / name)]


def pods() -> dict[str, Pod]:
    """The pod of each workload, by its app.kubernetes.io/component label."""
    resources = applied_resources()
    config_maps = {r["metadata"]["name"]: r for r in resources if r["kind"] == "ConfigMap"}
    found = {}
    for resource in resources:
        if resource["kind"] in WORKLOADS:
            pod = Pod(resource, config_maps)
            found[pod.labels["app.kubernetes.io/component"]] = pod
    return found
