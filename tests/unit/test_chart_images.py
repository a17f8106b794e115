"""The images the chart names are the images the repository builds, each running the right entrypoint.

A drift here (a renamed repository, an entrypoint that is not the component's module, a torch pin that
differs from pyproject's) would only show when a cluster pulls or starts the image.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from stockops.operator.settings import OperatorSettings

# chart values key -> (repository, Dockerfile, module the image runs, pyproject extra it installs)
IMAGES = {
    "operator": ("stockops/operator", "operator/Dockerfile", "stockops.operator", "operator"),
    "trainer": ("stockops/trainer", "images/trainer/Dockerfile", "stockops.trainer", "trainer"),
    "predictor": ("stockops/predictor", "images/predictor/Dockerfile", "stockops.predictor", "predictor"),
    "agent": ("stockops/agent", "images/agent/Dockerfile", "stockops.agent", "agent"),
    "gateway": ("stockops/gateway", "images/gateway/Dockerfile", "stockops.gateway", "gateway"),
}


def _values(repo_root: Path) -> dict:
    return yaml.safe_load((repo_root / "charts" / "stockops" / "values.yaml").read_text())


def _entrypoint(dockerfile: str) -> list[str]:
    lines = [line for line in dockerfile.splitlines() if line.startswith("ENTRYPOINT")]
    assert len(lines) == 1, "one ENTRYPOINT per image"
    return json.loads(lines[0].removeprefix("ENTRYPOINT").strip())


@pytest.mark.parametrize("component", sorted(IMAGES))
def test_chart_image_is_built_here_and_runs_its_module(repo_root: Path, component: str) -> None:
    repository, dockerfile_path, module, extra = IMAGES[component]
    assert _values(repo_root)[component]["image"]["repository"] == repository
    dockerfile = (repo_root / dockerfile_path).read_text()
    assert _entrypoint(dockerfile) == ["python", "-m", module]
    assert f'".[{extra}]"' in dockerfile, f"{dockerfile_path} must install the `{extra}` extra"
    assert re.search(r"^USER [1-9][0-9]*$", dockerfile, re.MULTILINE), (
        f"{dockerfile_path} must not run as root"
    )
    assert (repo_root / Path(dockerfile_path).parent / "README.md").is_file()


def test_operator_defaults_name_the_chart_repositories(repo_root: Path) -> None:
    """Outside the chart (dev cluster, e2e executor) the operator's defaults must be the same names."""
    defaults = OperatorSettings.model_fields
    values = _values(repo_root)
    chart = yaml.safe_load((repo_root / "charts" / "stockops" / "Chart.yaml").read_text())
    version = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]["version"]
    assert chart["appVersion"] == version  # the images' tag is the chart's appVersion, this release
    for component in ("trainer", "predictor", "agent"):
        expected = f"{values['image']['registry']}/{IMAGES[component][0]}:{version}"
        assert defaults[f"{component}_image"].default == expected
        registry = expected.split("/", 1)[0]
        assert "." in registry and not expected.endswith(":latest")  # fully qualified, pinned tag


@pytest.mark.parametrize(
    "dockerfile", ["images/trainer/Dockerfile", "images/predictor/Dockerfile", "images/agent/Dockerfile"]
)
def test_images_pin_the_torch_of_pyproject(repo_root: Path, dockerfile: str) -> None:
    """torch is installed first from its own index, so its pin must be pyproject's or pip re-resolves it."""
    pyproject = tomllib.loads((repo_root / "pyproject.toml").read_text())
    pin = next(d for d in pyproject["project"]["optional-dependencies"]["ml"] if d.startswith("torch"))
    assert f'"{pin}"' in (repo_root / dockerfile).read_text()


def test_operator_pod_runs_as_the_operator_images_user(repo_root: Path) -> None:
    dockerfile = (repo_root / "operator" / "Dockerfile").read_text()
    uid = int(re.findall(r"^USER ([0-9]+)$", dockerfile, re.MULTILINE)[-1])
    assert _values(repo_root)["podSecurityContext"]["runAsUser"] == uid


def _instructions(dockerfile: str) -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments and blank lines dropped."""
    joined = re.sub(r"\\\n\s*", " ", dockerfile)
    return [
        line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]


@pytest.mark.parametrize("component", sorted(IMAGES))
def test_image_takes_its_base_as_a_build_argument_defaulting_to_the_official_python(
    repo_root: Path, component: str
) -> None:
    """Users get python:3.11-slim; a machine without a registry passes the Debian base it built."""
    instructions = _instructions((repo_root / IMAGES[component][1]).read_text())
    assert "ARG BASE_IMAGE=python:3.11-slim" in instructions
    froms = [i for i in instructions if i.startswith("FROM ")]
    assert froms and all(i.split()[1] == "${BASE_IMAGE}" for i in froms)
    # The official image's python is /usr/local/bin, Debian's /usr/bin: only a venv works on both.
    assert any("python3 -m venv /opt/venv" in i for i in instructions)
    assert "--prefix" not in " ".join(instructions)


TORCH_IMAGES = ("trainer", "predictor", "agent")


def _torch_prefix(repo_root: Path, component: str) -> list[str]:
    instructions = _instructions((repo_root / IMAGES[component][1]).read_text())
    start = next(n for n, i in enumerate(instructions) if i.startswith("FROM "))
    end = next(n for n, i in enumerate(instructions) if i.startswith("RUN ") and "torch==" in i)
    return instructions[start : end + 1]


def test_torch_images_begin_with_the_same_layers_so_torch_is_built_once(repo_root: Path) -> None:
    """Built with one BASE_IMAGE and TORCH_INDEX_URL, identical steps up to torch hit the layer cache: the
    gigabytes of torch are installed once and stored once for the trainer, predictor and agent."""
    prefixes = {component: _torch_prefix(repo_root, component) for component in TORCH_IMAGES}
    assert prefixes["trainer"] == prefixes["predictor"] == prefixes["agent"]
    assert not any(
        i.startswith(("COPY", "ADD")) for i in prefixes["trainer"]
    )  # no source change reinstalls it
    assert any(i.startswith("RUN --mount=type=cache,target=/var/cache/pip") for i in prefixes["trainer"])
    # pip writes its cache where the mount is (its default, under the build user's home, would miss it)
    assert any(i.startswith("ENV ") and "PIP_CACHE_DIR=/var/cache/pip" in i for i in prefixes["trainer"])


@pytest.mark.parametrize("component", sorted(IMAGES))
def test_image_copies_only_what_the_build_script_hashes(repo_root: Path, component: str) -> None:
    """scripts/build-images.sh names an image by the hash of these inputs and .dockerignore lets only them
    into the context: a COPY of anything else would be missing from the build or reuse a stale image."""
    hashed = {"pyproject.toml", "README.md", "requirements/lock.txt", "src"}
    script = (repo_root / "scripts" / "build-images.sh").read_text()
    assert 'sha256sum "$dockerfile" .dockerignore pyproject.toml README.md requirements/lock.txt' in script
    ignore = (repo_root / ".dockerignore").read_text().splitlines()
    assert {line[1:].rstrip("/") for line in ignore if line.startswith("!")} == hashed
    for instruction in _instructions((repo_root / IMAGES[component][1]).read_text()):
        if instruction.startswith(("COPY ", "ADD ")) and "--from=" not in instruction:
            sources = instruction.split()[1:-1]
            assert set(sources) <= hashed, instruction
