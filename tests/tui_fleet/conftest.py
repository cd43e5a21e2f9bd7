"""The remote host of tests/fleet_podman (a podman engine behind a real loopback sshd, busybox in a
loopback registry), for the dashboard's ``--server remote`` test."""

from __future__ import annotations

from fleet_podman.conftest import remote_host, sshd  # noqa: F401 (fixtures)
