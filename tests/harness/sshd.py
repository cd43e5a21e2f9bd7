"""A real OpenSSH server on loopback for tests (TEST_HARNESS.md §7): a second "host" reached over SSH.

Everything lives in one temp dir: a generated host key, a generated ed25519 client key (the only
authorized key), a private ``sshd_config`` on a free loopback port, its pid file and log, and a
``known_hosts`` file holding the host key (so clients verify it and nothing touches ~/.ssh).
sshd runs as the test's user (root in CI) in the foreground (``-D``) and is stopped by its pid.

    with Sshd.start(Path("/tmp/x")) as sshd:
        print(sshd.url("/run/podman/podman.sock"), sshd.client_key)
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from harness.podman import free_port, stop_process_group, watch

SSHD_INSTALL = "apt-get install -y --no-install-recommends openssh-server openssh-client"
SSHD_PATHS = ("/usr/sbin/sshd", "/usr/bin/sshd")

SSHD_CONFIG = """\
Port {port}
ListenAddress 127.0.0.1
HostKey {host_key}
PidFile {pid_file}
AuthorizedKeysFile {authorized}
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
StrictModes no
UsePAM no
AllowStreamLocalForwarding yes
AllowTcpForwarding yes
Subsystem sftp internal-sftp
"""


def sshd_path() -> str | None:
    for path in SSHD_PATHS:
        if os.path.exists(path):
            return path
    return shutil.which("sshd")


def sshd_available() -> bool:
    return sshd_path() is not None and shutil.which("ssh") is not None and shutil.which("ssh-keygen") is not None


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "comfytui-test", "-f", str(path)],
        check=True,
        capture_output=True,
    )


@dataclass
class Sshd:
    tmp: Path
    port: int
    proc: subprocess.Popen[bytes]
    user: str

    @property
    def client_key(self) -> Path:
        return self.tmp / "client_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.tmp / "known_hosts"

    def url(self, path: str | Path) -> str:
        """``ssh://USER@127.0.0.1:PORT/PATH`` (podman's form for a remote socket)."""
        return f"ssh://{self.user}@127.0.0.1:{self.port}{path}"

    def ssh_args(self) -> list[str]:
        """Options for an ``ssh`` client that trusts this server's host key and uses the test key."""
        return [
            "-o", f"UserKnownHostsFile={self.known_hosts}",
            "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes",
            "-i", str(self.client_key),
            "-p", str(self.port),
        ]

    @classmethod
    def start(cls, tmp: Path, timeout: float = 10.0) -> Sshd:
        binary = sshd_path()
        if binary is None:
            raise RuntimeError(f"sshd is missing: {SSHD_INSTALL}")
        tmp.mkdir(parents=True, exist_ok=True)
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # sshd's privilege-separation dir
        host_key, client_key = tmp / "host_ed25519", tmp / "client_ed25519"
        for key in (host_key, client_key):
            if not key.exists():
                _keygen(key)
        (tmp / "authorized_keys").write_text((tmp / "client_ed25519.pub").read_text())
        port = free_port()
        host_pub = (tmp / "host_ed25519.pub").read_text().split()
        (tmp / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
        config = tmp / "sshd_config"
        config.write_text(
            SSHD_CONFIG.format(
                port=port, host_key=host_key, pid_file=tmp / "sshd.pid", authorized=tmp / "authorized_keys"
            )
        )
        log = open(tmp / "sshd.log", "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(
            [binary, "-D", "-e", "-f", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        watch(proc.pid)
        server = cls(tmp=tmp, port=port, proc=proc, user=getpass.getuser())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {(tmp / 'sshd.log').read_text()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                if s.recv(64).startswith(b"SSH-"):
                    return server
            time.sleep(0.05)
        server.stop()
        raise RuntimeError("sshd did not answer in time")

    def run(self, *command: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run a command on the "remote host" through ssh (an argument list, no shell of ours)."""
        return subprocess.run(
            ["ssh", *self.ssh_args(), f"{self.user}@127.0.0.1", "--", *command],
            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False,
        )

    def stop(self) -> None:
        stop_process_group(self.proc, term_timeout=5)

    def __enter__(self) -> Sshd:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
