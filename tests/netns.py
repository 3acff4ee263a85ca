"""Pretend LANs made of network namespaces, so discovery is tested without a real network.

Each :class:`PretendLan` is a bridge namespace with one namespace per host, joined by veth
pairs: host ``i`` has ``eth0`` with ``10.77.0.i/24`` and ``fd77::i/64``, multicast on. Made as
root with ``ip netns``; removed again afterwards. Nothing here touches a real interface.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

NETNS_REASON = "network namespaces need root and iproute2 ('ip')"


def netns_available() -> bool:
    return os.geteuid() == 0 and shutil.which("ip") is not None


def require_netns() -> None:
    """Skip the calling test when namespaces cannot be made; fail instead when CI requires
    them (``GPTGROUP_REQUIRE_NETNS=1``)."""
    if netns_available():
        return
    if os.environ.get("GPTGROUP_REQUIRE_NETNS") == "1":
        pytest.fail(f"GPTGROUP_REQUIRE_NETNS=1 but {NETNS_REASON}")
    pytest.skip(NETNS_REASON)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


class PretendLan:
    """``hosts`` namespaces on one switch. Use as a context manager."""

    def __init__(self, hosts: int) -> None:
        self.tag = f"gg{os.getpid() % 100_000}x{id(self) % 1000}"
        self.count = hosts
        self.switch = f"{self.tag}-sw"

    def ns(self, i: int) -> str:
        return f"{self.tag}-h{i}"

    def ipv4(self, i: int) -> str:
        return f"10.77.0.{i}"

    def ipv6(self, i: int) -> str:
        return f"fd77::{i}"

    def port(self, i: int) -> str:
        """The switch's end of host ``i``'s cable, in namespace :attr:`switch`: every frame
        host ``i`` sends enters the switch there, so a capture on the ports sees the LAN."""
        return f"{self.tag}b{i}"

    def __enter__(self) -> PretendLan:
        try:
            self._up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.down()

    def _up(self) -> None:
        _ip("netns", "add", self.switch)
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.switch, "link", "set", "br0", "up")
        for i in range(1, self.count + 1):
            ns, near, far = self.ns(i), f"{self.tag}a{i}", f"{self.tag}b{i}"
            _ip("netns", "add", ns)
            _ip("link", "add", near, "type", "veth", "peer", "name", far)
            _ip("link", "set", near, "netns", ns)
            _ip("link", "set", far, "netns", self.switch)
            _ip("-n", self.switch, "link", "set", far, "master", "br0", "up")
            _ip("-n", ns, "link", "set", near, "name", "eth0")
            _ip("-n", ns, "addr", "add", f"{self.ipv4(i)}/24", "dev", "eth0")
            _ip("-n", ns, "addr", "add", f"{self.ipv6(i)}/64", "dev", "eth0", "nodad")
            _ip("-n", ns, "link", "set", "eth0", "multicast", "on", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", "eth0")

    def down(self) -> None:
        for name in [self.switch, *(self.ns(i) for i in range(1, self.count + 1))]:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
