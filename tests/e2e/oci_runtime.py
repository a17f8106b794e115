"""Containers for the node agent's OCI node: a pod's containers run from built images with podman.

Why: on the process nodes the node agent runs a container as a local process, which admits but cannot
enforce the pod's security context and runs our source, not our images. On the OCI node (label and
taint `stockops.io/runtime=oci`) it runs each container with `podman run` from the images
`scripts/build-images.sh` built, as a kubelet's container runtime would:

- the image must already be in podman's store (nothing is ever pulled here: a missing image is
  `ErrImagePull`, as on a node that cannot reach its registry);
- the security context becomes run flags: `runAsUser`/`runAsGroup` (else the image's user, and
  `runAsNonRoot` refuses an image that would run as root), `readOnlyRootFilesystem` (`--read-only`),
  `capabilities.drop`/`add`, `allowPrivilegeEscalation: false` (`no-new-privileges`);
- volumes are the agent's directories bind-mounted at their `mountPath` (read-only when the mount
  says so), the termination message file at `terminationMessagePath`;
- `command`/`args` replace the image's entrypoint and CMD with `$(VAR)` expanded; `workingDir`;
- `--network host`: the container shares this machine's network, and binds the pod's own loopback
  address, which it gets through the downward API (`status.podIP`) like any pod.

Still not enforced: resource limits (this machine's cgroups are not delegated to podman).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

RUNTIME_LABEL = "stockops.io/runtime"


class ContainerConfigError(Exception):
    """The container cannot be created as specified (the kubelet's CreateContainerConfigError)."""


def container_name(namespace: str, pod: str, container: str, uid: str) -> str:
    """A podman name unique to one container of one pod object (podman's name alphabet)."""
    return re.sub(r"[^a-zA-Z0-9_.-]", "-", f"k8s_{container}_{pod}_{namespace}_{uid[:8]}")


def _numeric(user: str) -> int | None:
    head = user.split(":", 1)[0]
    return int(head) if head.isdigit() else None


def security_flags(pod_sc: Mapping[str, Any], sc: Mapping[str, Any], image_user: str) -> list[str]:
    """podman run flags for a container's effective security context (the container's fields win).

    Raises ContainerConfigError where the kubelet refuses to start the container."""

    def pick(key: str) -> Any:
        return sc.get(key, pod_sc.get(key))

    flags: list[str] = []
    user, group = pick("runAsUser"), pick("runAsGroup")
    if user is not None:
        flags += ["--user", f"{user}:{group}" if group is not None else str(user)]
    if pick("runAsNonRoot"):
        effective = user if user is not None else _numeric(image_user) if image_user else 0
        if effective is None:  # a user name: the kubelet cannot verify it is not root
            raise ContainerConfigError(
                f"container has runAsNonRoot and image has non-numeric user ({image_user}), cannot verify "
                "user is non-root"
            )
        if int(effective) == 0:
            raise ContainerConfigError("container has runAsNonRoot and image will run as root")
    if sc.get("readOnlyRootFilesystem"):
        flags += ["--read-only", "--read-only-tmpfs=false"]
    capabilities = sc.get("capabilities") or {}
    for cap in capabilities.get("drop") or []:
        flags += ["--cap-drop", str(cap)]
    for cap in capabilities.get("add") or []:
        flags += ["--cap-add", str(cap)]
    if sc.get("allowPrivilegeEscalation") is False:
        flags += ["--security-opt", "no-new-privileges"]
    if sc.get("privileged"):
        flags += ["--privileged"]
    return flags


def run_argv(
    podman: str,
    name: str,
    image: str,
    *,
    command: Sequence[str],
    args: Sequence[str],
    env: Mapping[str, str],
    mounts: Sequence[tuple[str, str, bool]],
    security: Sequence[str],
    working_dir: str | None,
) -> list[str]:
    """`podman run` of one container in the foreground (its exit code is the container's)."""
    argv = [podman, "run", "--rm", "--replace", "--name", name, "--network", "host", "--pull", "never",
            *security]  # fmt: skip
    for target, source, read_only in mounts:
        argv += ["--volume", f"{source}:{target}:{'ro' if read_only else 'rw'}"]
    for key, value in env.items():
        argv += ["--env", f"{key}={value}"]
    if working_dir:
        argv += ["--workdir", working_dir]
    if command:
        argv += ["--entrypoint", json.dumps(list(command))]
    return [*argv, image, *args]


@dataclass
class OciRuntime:
    """podman with the project's engine settings; remembers which images its store holds."""

    podman: str
    client_env: Mapping[str, str]
    run: Callable[..., subprocess.CompletedProcess[str]] = field(default=subprocess.run, repr=False)
    _users: dict[str, str] = field(default_factory=dict, repr=False)

    def _call(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return self.run(
            [self.podman, *args], env=dict(self.client_env), capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip

    def image_user(self, image: str) -> str | None:
        """The image's configured user ('' for root by default), None when the store lacks it."""
        if image not in self._users:
            result = self._call("image", "inspect", "--format", "{{.Config.User}}", image)
            if result.returncode != 0:
                return None
            self._users[image] = result.stdout.strip()
        return self._users[image]

    def remove(self, name: str) -> None:
        """Gone for sure (the foreground client may have died before its container)."""
        self._call("rm", "--force", "--time", "0", name)
