"""Ports for local stacks: free, below the kernel's ephemeral range (which outgoing connections
take from), and never handed out twice by one process."""

import socket
from pathlib import Path

from scripts.isolated_stack import free_metrics_base
from scripts.stack import free_port, listening_ports


def test_ports_are_free_below_the_ephemeral_range_and_never_repeated():
    first_ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
    assert all(10000 <= port < first_ephemeral for port in ports)
    assert listening_ports().stop == first_ephemeral
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", ports[-1]))  # free when handed out


def test_a_metrics_block_overlaps_neither_given_ports_nor_what_was_handed_out():
    gateway = free_port()
    base = free_metrics_base(avoid=(gateway,))
    block = set(range(base, base + 10))
    assert gateway not in block
    assert not block & {free_port() for _ in range(200)}
