"""A real, private podman engine for tests (TEST_HARNESS.md §2).

Everything lives in one temp dir: containers.conf, storage.conf, registries.conf, the graph and
run roots, and the API socket of a ``podman system service`` started with those files in its
environment (never by editing /etc/containers). Also: a tiny busybox image made with
``podman import``, and a loopback ``docker-registry`` to exercise real pulls.

Usable from pytest fixtures (``tests/lifecycle/conftest.py``) and by hand::

    with PodmanService.start(Path("/tmp/x")) as svc:
        print(svc.uri)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .ports import free_port  # noqa: F401 - re-exported: tests import it from here


def stop_process_group(proc: subprocess.Popen, term_timeout: float) -> None:
    """SIGTERM the process group, SIGKILL it after ``term_timeout`` s, and wait until it is gone."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=term_timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    watch(proc.pid, alive=False)


def watch(pid: int, alive: bool = True) -> None:
    """Register (or forget) a process group with the suite's watchdog (harness/_reaper.py), which
    kills it if the test process dies without its teardown."""
    try:
        from harness.comfy import _reaper
    except ImportError:  # pragma: no cover
        return
    (_reaper.add if alive else _reaper.discard)(pid)


PODMAN_INSTALL = "apt-get install -y --no-install-recommends podman runc catatonit netavark"
REGISTRY_INSTALL = "apt-get install -y --no-install-recommends docker-registry"
BUSYBOX_INSTALL = "apt-get install -y --no-install-recommends busybox-static"

CONTAINERS_CONF = """\
[containers]
default_ulimits = []
netns = "host"
log_driver = "json-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"

[network]
network_backend = "netavark"
"""

STORAGE_CONF = """\
[storage]
driver = "overlay"
graphroot = "{root}"
runroot = "{run}"

[storage.options.overlay]
skip_mount_home = "true"
"""


def podman_available() -> bool:
    return all(shutil.which(tool) for tool in ("podman", "runc", "catatonit"))


def registry_available() -> bool:
    return shutil.which("docker-registry") is not None


def busybox_path() -> str | None:
    for candidate in ("/bin/busybox", "/usr/bin/busybox", shutil.which("busybox") or ""):
        if candidate and os.path.exists(candidate):
            return candidate
    return None




def write_configs(tmp: Path, registry_port: int | None = None) -> dict[str, str]:
    """Write the three podman config files into ``tmp``; return the environment that selects them."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "containers.conf").write_text(CONTAINERS_CONF)
    (tmp / "storage.conf").write_text(STORAGE_CONF.format(root=tmp / "root", run=tmp / "run"))
    registries = "unqualified-search-registries = []\n"
    if registry_port:
        registries += f'\n[[registry]]\nlocation = "127.0.0.1:{registry_port}"\ninsecure = true\n'
    (tmp / "registries.conf").write_text(registries)
    return {
        "CONTAINERS_CONF": str(tmp / "containers.conf"),
        "CONTAINERS_STORAGE_CONF": str(tmp / "storage.conf"),
        "CONTAINERS_REGISTRIES_CONF": str(tmp / "registries.conf"),
    }


@dataclass
class PodmanService:
    """A running ``podman system service`` bound to ``tmp/podman.sock``."""

    tmp: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes]
    registry_port: int
    created: list[str] = field(default_factory=list)

    @property
    def socket_path(self) -> Path:
        return self.tmp / "podman.sock"

    @property
    def uri(self) -> str:
        return f"unix://{self.socket_path}"

    @classmethod
    def start(cls, tmp: Path, timeout: float = 20.0) -> PodmanService:
        registry_port = free_port()  # reserved for a loopback registry (registries.conf marks it insecure)
        env = dict(os.environ, **write_configs(tmp, registry_port))
        log = open(tmp / "service.log", "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(
            ["podman", "system", "service", "--time=0", f"unix://{tmp / 'podman.sock'}"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        watch(proc.pid)
        service = cls(tmp=tmp, env=env, proc=proc, registry_port=registry_port)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"podman system service exited: {(tmp / 'service.log').read_text()[-2000:]}"
                )
            if service.ping():
                return service
            time.sleep(0.05)
        service.stop()
        raise RuntimeError("podman system service did not answer _ping in time")

    def ping(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(1)
                s.connect(str(self.socket_path))
                s.sendall(b"GET /v4.0.0/libpod/_ping HTTP/1.0\r\nHost: d\r\n\r\n")
                return b"OK" in s.recv(4096)
        except OSError:
            return False

    def podman(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run the podman CLI against the same storage (the service shares it)."""
        return subprocess.run(
            ["podman", *args], env=self.env, capture_output=True, text=True, check=check, timeout=timeout
        )

    def remove_all_containers(self) -> None:
        self.podman("rm", "--all", "--force", "--time", "0", check=False)

    def stop(self) -> None:
        # Every container, pod and volume holds one of the machine's 2048 podman locks (one shared
        # memory segment for all storage roots). Deleting the temp dir does not give them back:
        # repeated runs on one machine ended in "exceeded num_locks (2048)".
        self.remove_all_containers()
        self.podman("pod", "rm", "--all", "--force", check=False)
        self.podman("volume", "rm", "--all", "--force", check=False)
        stop_process_group(self.proc, term_timeout=10)
        # The overlay graph root can stay mounted: unmount before the temp dir goes.
        for root in (self.tmp / "root" / "overlay", self.tmp / "root"):
            subprocess.run(["umount", "-l", str(root)], capture_output=True, check=False)
        with contextlib.suppress(OSError):
            for line in Path("/proc/self/mounts").read_text().splitlines():
                target = line.split()[1]
                if target.startswith(str(self.tmp)):
                    subprocess.run(["umount", "-l", target], capture_output=True, check=False)

    def __enter__(self) -> PodmanService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def make_busybox_tar(dest: Path) -> Path:
    """A rootfs tarball: /bin/busybox plus applet links, /etc/passwd, /tmp."""
    busybox = busybox_path()
    if busybox is None:
        raise RuntimeError(f"busybox is missing: {BUSYBOX_INSTALL}")
    root = dest.with_suffix(".d")
    shutil.rmtree(root, ignore_errors=True)
    (root / "bin").mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "tmp").mkdir()
    (root / "root").mkdir()
    shutil.copy2(busybox, root / "bin" / "busybox")
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            (root / "bin" / applet).symlink_to("busybox")
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\n")
    with tarfile.open(dest, "w") as tar:
        tar.add(root, arcname=".")
    shutil.rmtree(root, ignore_errors=True)
    return dest


def import_busybox(service: PodmanService, ref: str = "localhost/busybox:test") -> str:
    tar = make_busybox_tar(service.tmp / "bb.tar")
    service.podman("import", "--change", 'CMD ["/bin/sh"]', str(tar), ref)
    return ref


def make_blob_image(service: PodmanService, ref: str, size: int) -> str:
    """A one-layer image holding ``size`` random bytes (incompressible: a pull shows byte progress
    only for layers of ~100 MB and more)."""
    work = service.tmp / f"blob-{ref.replace('/', '_').replace(':', '_')}"
    work.mkdir(exist_ok=True)
    with open(work / "blob", "wb") as f:
        for _ in range(size // (1 << 20)):
            f.write(os.urandom(1 << 20))
    with tarfile.open(work / "blob.tar", "w") as tar:
        tar.add(work / "blob", arcname="blob")
    (work / "blob").unlink()
    service.podman("import", str(work / "blob.tar"), ref, timeout=300)
    shutil.rmtree(work, ignore_errors=True)
    return ref


class ThrottledProxy:
    """A loopback TCP proxy that slows the server-to-client direction to ``rate`` bytes/s, so a pull
    of a few dozen MB lasts long enough for podman's once-a-second byte progress to show."""

    def __init__(self, listen_port: int, target_port: int, rate: float) -> None:
        self.target_port, self.rate = target_port, rate
        self.server = socket.create_server(("127.0.0.1", listen_port), reuse_port=False)
        self.server.settimeout(0.2)
        self.closed = False
        threading.Thread(target=self._accept, name="throttled-proxy", daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            threading.Thread(target=self._pump, args=(client, upstream, 0.0), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, self.rate), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, rate: float) -> None:
        try:
            while chunk := src.recv(64 * 1024):
                dst.sendall(chunk)
                if rate:
                    time.sleep(len(chunk) / rate)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(OSError):
            self.server.close()


@dataclass
class Registry:
    """A loopback ``docker-registry`` (distribution 2.x) with filesystem storage, reached through a
    throttling proxy on ``port`` (the address registries.conf marks insecure)."""

    port: int
    proc: subprocess.Popen[bytes]
    proxy: ThrottledProxy | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @classmethod
    def start(cls, tmp: Path, port: int, rate: float = 16e6, timeout: float = 10.0) -> Registry:
        tmp.mkdir(parents=True, exist_ok=True)
        backend_port = free_port()
        config = tmp / "registry.yml"
        config.write_text(
            json.dumps(
                {
                    "version": 0.1,
                    "log": {"level": "error"},
                    "storage": {"filesystem": {"rootdirectory": str(tmp / "data")}},
                    "http": {"addr": f"127.0.0.1:{backend_port}", "secret": "comfytui-test"},
                }
            )
        )
        log = open(tmp / "registry.log", "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(
            ["docker-registry", "serve", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        watch(proc.pid)
        registry = cls(port=port, proc=proc)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {(tmp / 'registry.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{backend_port}/v2/", timeout=1):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            registry.stop()
            raise RuntimeError("docker-registry did not answer in time")
        registry.proxy = ThrottledProxy(port, backend_port, rate)
        return registry

    def push(self, service: PodmanService, local_ref: str, name: str) -> str:
        remote = f"{self.host}/{name}"
        service.podman("push", "--tls-verify=false", local_ref, remote, timeout=300)
        return remote

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.close()
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        watch(self.proc.pid, alive=False)


def comfy_cpu_paths(repo_root: Path) -> dict[str, str] | None:
    """``scripts/comfy-cpu paths`` when the tree and the venv are installed, else None."""
    script = repo_root / "scripts" / "comfy-cpu"
    if not script.exists():
        return None
    out = subprocess.run([str(script), "paths"], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return None
    info = json.loads(out.stdout)
    tree, venv = Path(info["tree"]), Path(info["venv"])
    if not (tree / ".comfytui-complete").exists() or not (venv / ".comfytui-complete").exists():
        return None
    return info


def venv_base_prefix(venv: Path) -> Path | None:
    """The base Python prefix of a venv (``home`` in pyvenv.cfg, one level up from bin)."""
    cfg = venv / "pyvenv.cfg"
    if not cfg.exists():
        return None
    for line in cfg.read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "home":
            return Path(value.strip()).parent
    return None


def busybox_values(socket_uri: str, name: str, storage: Path, **changes: object) -> dict[str, object]:
    """ContainerSettings values for a busybox container on the test engine: host network (bridge
    networking reaches private addresses, off limits here), CPU mode, host dirs under ``storage``,
    a free port unless ``changes`` names one."""
    port = changes.get("port") or free_port()
    values: dict[str, object] = dict(
        socket=socket_uri,
        image="localhost/busybox",
        tag="test",
        name=name,
        port=port,
        container_port=port,
        network="host",
        gpu="none",
        storage=str(storage),
        stop_timeout_s=5,
    )
    values.update(changes)
    return values


def comfy_container_values(comfy: dict[str, str], socket_uri: str, base: Path, name: str) -> dict[str, Any]:
    """The real ComfyUI inside the busybox image: host files bind-mounted read-only at their paths."""
    port = free_port()
    venv, tree = Path(comfy["venv"]), Path(comfy["tree"])
    prefix = venv_base_prefix(venv)
    empty = base / "frontend-empty"
    for folder in ("custom_nodes", "models", "input", "output", "user", "home", "frontend-empty"):
        (base / folder).mkdir(parents=True, exist_ok=True)
    mounts = [f"{p}:{p}:ro" for p in ("/usr", "/lib", "/lib64") if Path(p).exists()]
    if prefix is not None:
        mounts.append(f"{prefix}:{prefix}:ro")
    mounts += [f"{venv}:{venv}:ro", f"{tree}:{tree}:ro", f"{base}:{base}"]
    values = busybox_values(
        socket_uri,
        name,
        base / "storage",
        port=port,
        startup_timeout_s=90.0,
        env={"HOME": str(base / "home"), "PYTHONUNBUFFERED": "1"},
        extra_mounts=mounts,
        command=[
            comfy["python"],
            str(tree / "main.py"),
            "--cpu",
            "--listen",
            "127.0.0.1",
            "--port",
            str(port),
            "--base-directory",
            str(base),
            "--front-end-root",
            str(empty),
            "--database-url",
            "sqlite:///:memory:",
        ],
    )
    return values
