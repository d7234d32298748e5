"""Whose memory the soak watches: the server the session launched, the process listening on a loopback
endpoint's port, or nobody (a remote endpoint), each said in one line.

A server on another host is out of sight: the soak then judges latency and errors only. On loopback,
the listener is found with psutil (``net_connections``, which needs the right to read other users'
sockets: as another user, or across a container's network namespace, it may find nothing, and says so).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

LOOPBACK_NAMES = ("localhost",)


@dataclass(frozen=True)
class ServerWhere:
    """The server's root process id (None: not visible from here) and one line saying how it was found."""

    pid: int | None
    line: str


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def listener_pid(port: int) -> int | None:
    """The process listening on TCP ``port`` on this host, or None where none can be seen."""
    import psutil

    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return None
    for connection in connections:
        if connection.status == psutil.CONN_LISTEN and connection.laddr and connection.laddr.port == port:
            if connection.pid:
                return connection.pid
    return None


def process_name(pid: int) -> str:
    import psutil

    try:
        return psutil.Process(pid).name()
    except psutil.Error:
        return "?"


def locate_server(url: str, launched_pid: int | None) -> ServerWhere:
    """Where the server at ``url`` runs, preferring the process the session launched."""
    if launched_pid is not None:
        return ServerWhere(launched_pid, f"the launched server's process tree (pid {launched_pid})")
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not is_loopback(host):
        return ServerWhere(
            None, f"{host} is another host: the server's memory cannot be seen from here; judging latency and errors"
        )
    port = parts.port or (443 if parts.scheme == "https" else 80)
    pid = listener_pid(port)
    if pid is None:
        return ServerWhere(
            None,
            f"no process this user can see listens on {host}:{port} (another user's, or another container's): "
            "the server's memory cannot be seen; judging latency and errors",
        )
    return ServerWhere(pid, f"the process listening on {host}:{port} (pid {pid}, {process_name(pid)}) and its children")
