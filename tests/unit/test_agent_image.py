"""images/agent/Dockerfile runs the agent's module, installs the `agent` extra with pyproject's torch pin,
takes its base image as a build argument (default: the official Python image) and runs as non-root."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path


def test_agent_image(repo_root: Path) -> None:
    dockerfile = (repo_root / "images" / "agent" / "Dockerfile").read_text()
    [entrypoint] = [line for line in dockerfile.splitlines() if line.startswith("ENTRYPOINT")]
    assert json.loads(entrypoint.removeprefix("ENTRYPOINT").strip()) == ["python", "-m", "stockops.agent"]
    assert '".[agent]"' in dockerfile
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim$", dockerfile, re.MULTILINE)
    # One stage: torch is the image's own first layer, shared with the trainer and predictor images.
    assert dockerfile.count("FROM ${BASE_IMAGE}") == 1
    assert re.search(r"^USER [1-9][0-9]*$", dockerfile, re.MULTILINE)
    pyproject = tomllib.loads((repo_root / "pyproject.toml").read_text())
    pin = next(d for d in pyproject["project"]["optional-dependencies"]["ml"] if d.startswith("torch"))
    assert f'"{pin}"' in dockerfile
    assert (repo_root / "images" / "agent" / "README.md").is_file()


def test_agent_extra_has_what_the_agent_imports(repo_root: Path) -> None:
    pyproject = tomllib.loads((repo_root / "pyproject.toml").read_text())
    names = {re.split(r"[<>=\[ ]", d)[0] for d in pyproject["project"]["optional-dependencies"]["agent"]}
    assert {"langgraph", "langchain-core", "langchain-openai", "qdrant-client", "wordllama"} <= names
