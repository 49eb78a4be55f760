"""The Dockerfile and deploy/compose.yaml, read as the tools read them (the Dockerfile by
BuildKit's own parser, through the `dockerfile` package). No container registry is
reachable here, so the image itself is not built in the suite."""

from __future__ import annotations

import fnmatch
import tomllib

import dockerfile
import pytest

from parallax.config import Settings
from parallax.exposure import is_loopback
from tests.deploy.manifests import DEPLOY, documents, port_of, settings_from_env

REPO_ROOT = DEPLOY.parent
IMAGE_USER = "10001"


def stages() -> list[list[dockerfile.Command]]:
    """The Dockerfile's instructions, one list per FROM (the ARGs before it dropped)."""
    found: list[list[dockerfile.Command]] = []
    for command in dockerfile.parse_file(str(REPO_ROOT / "Dockerfile")):
        if command.cmd == "FROM":
            found.append([])
        if found:
            found[-1].append(command)
    return found


def instructions(stage: list[dockerfile.Command], name: str) -> list[dockerfile.Command]:
    return [command for command in stage if command.cmd == name]


def test_the_image_is_built_in_one_stage_and_runs_from_another():
    build, runtime = stages()
    assert build[0].value[-2:] == ("AS", "build")
    assert any("pip wheel" in run.value[0] for run in instructions(build, "RUN"))
    copies = instructions(runtime, "COPY")
    assert [c.flags for c in copies] == [("--from=build",)]
    # The runtime stage installs nothing: no compiler, pip cache or wheel left behind.
    assert not [r for r in instructions(runtime, "RUN") if "pip" in r.value[0]]


def test_the_image_adds_nothing_from_the_network():
    assert not [c for stage in stages() for c in instructions(stage, "ADD")]


def test_the_build_copies_every_package_the_wheel_holds():
    packages = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ]["find"]["include"]
    build, _ = stages()
    copied = {c.value[0].rstrip("/") for c in instructions(build, "COPY")}
    assert {pattern.rstrip("*") for pattern in packages} <= copied
    assert "pyproject.toml" in {v for c in instructions(build, "COPY") for v in c.value}


def test_the_image_runs_as_its_own_unprivileged_user():
    _, runtime = stages()
    users = instructions(runtime, "USER")
    assert users[-1].value == (f"{IMAGE_USER}:{IMAGE_USER}",)
    assert users[-1].start_line > max(r.start_line for r in instructions(runtime, "RUN"))
    (run,) = instructions(runtime, "RUN")
    assert f"--uid {IMAGE_USER}" in run.value[0] and f"--gid {IMAGE_USER}" in run.value[0]


def test_the_image_exposes_the_default_ports_and_checks_the_servers_health():
    _, runtime = stages()
    defaults = Settings()
    listens = (
        defaults.server.listen,
        defaults.server.http_listen,
        defaults.server.metrics_listen,
        defaults.collector.metrics_listen,
        defaults.dashboard.listen,
    )
    (expose,) = instructions(runtime, "EXPOSE")
    assert {int(port) for port in expose.value} == {port_of(listen) for listen in listens}
    (healthcheck,) = instructions(runtime, "HEALTHCHECK")
    assert healthcheck.value[0] == "CMD"
    assert f"127.0.0.1:{port_of(defaults.server.metrics_listen)}/healthz" in healthcheck.value[-1]
    (entrypoint,) = instructions(runtime, "ENTRYPOINT")
    assert entrypoint.value == ("parallax",)
    assert instructions(runtime, "CMD")[-1].value == ("server",)


def image_env() -> dict[str, str]:
    """The runtime stage's ENV: what every container starts with."""
    _, runtime = stages()
    env = {}
    for command in instructions(runtime, "ENV"):
        env.update(zip(command.value[::2], command.value[1::2], strict=True))
    return env


def test_the_images_settings_are_valid_and_its_lake_is_a_volume():
    _, runtime = stages()
    settings = settings_from_env(image_env())
    (volume,) = instructions(runtime, "VOLUME")
    assert any(settings.store.path.startswith(path + "/") for path in volume.value)
    # Safe by default: without a deployment's choice, nothing listens beyond loopback.
    assert is_loopback(settings.server.listen) and is_loopback(settings.collector.listen)


def excluded_from_context(name: str, patterns: list[str]) -> bool:
    """.dockerignore's rule for a top-level name: the last pattern that matches decides."""
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if fnmatch.fnmatch(name, pattern.lstrip("!").rstrip("/")):
            excluded = not negated
    return excluded


def test_the_build_context_is_the_packages_only():
    patterns = [
        line
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    build, _ = stages()
    sources = {v.rstrip("/") for c in instructions(build, "COPY") for v in c.value[:-1]}
    assert not [source for source in sources if excluded_from_context(source, patterns)]
    for kept_out in (".venv", ".git", "parallax-data", "tests", "bench", "deploy"):
        assert excluded_from_context(kept_out, patterns), kept_out


def compose_services() -> dict[str, dict]:
    return documents(DEPLOY / "compose.yaml")[0]["services"]


def compose_settings(name: str) -> Settings:
    """The settings of a compose service: the image's ENV under the service's own."""
    return settings_from_env({**image_env(), **compose_services()[name]["environment"]})


def test_compose_runs_server_dashboard_and_collector_from_the_one_image():
    services = compose_services()
    assert set(services) == {"server", "dashboard", "collector"}
    assert {service["image"] for service in services.values()} == {"parallax:0.1.0"}
    assert services["server"]["build"] == {"context": "..", "dockerfile": "Dockerfile"}
    assert {name: s["command"] for name, s in services.items()} == {
        name: [name] for name in services
    }
    for name, service in services.items():
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"], name


def test_compose_publishes_ports_on_the_hosts_loopback_only():
    for name, service in compose_services().items():
        for published in service.get("ports", []):
            assert published.startswith("127.0.0.1:"), (name, published)


@pytest.mark.parametrize("name", ["server", "dashboard", "collector"])
def test_each_compose_service_has_valid_settings_and_a_health_check_on_its_port(name):
    service = compose_services()[name]
    settings = compose_settings(name)
    listens = {
        "server": [settings.server.listen, settings.server.http_listen],
        "dashboard": [settings.dashboard.listen],
        "collector": [settings.collector.listen, settings.collector.http_listen],
    }[name]
    container_ports = {int(p.rsplit(":", 1)[1]) for p in service["ports"]}
    assert {port_of(listen) for listen in listens} <= container_ports
    health = {
        "server": f"127.0.0.1:{port_of(settings.server.metrics_listen)}/readyz",
        "dashboard": f"127.0.0.1:{port_of(settings.dashboard.listen)}/_stcore/health",
        "collector": f"127.0.0.1:{port_of(settings.collector.metrics_listen)}/readyz",
    }[name]
    assert health in service["healthcheck"]["test"][-1]


def test_compose_keeps_the_lake_and_the_buffer_on_named_volumes():
    services = compose_services()
    for name in ("server", "dashboard"):
        (mount,) = services[name]["volumes"]
        volume, _, where = mount.partition(":")
        assert volume == "lake"
        assert compose_settings(name).store.path.startswith(where + "/")
    (mount,) = services["collector"]["volumes"]
    assert mount == f"buffer:{compose_settings('collector').collector.buffer_dir}"
    assert set(documents(DEPLOY / "compose.yaml")[0]["volumes"]) == {"lake", "buffer"}


def test_compose_runs_without_tls_only_on_its_private_network():
    """insecure = true is the operator's word that the network is private: the ports it
    covers are published on the host's loopback only (checked above) and the collector
    reaches the server by its service name on the project's network."""
    server = compose_settings("server").server
    collector = compose_settings("collector").collector
    assert server.insecure and collector.insecure
    assert collector.backend == f"server:{port_of(server.listen)}"
