#!/usr/bin/env python3
"""Memory of stalled transfers: N read requests that are never acknowledged, against a TFTP
server already running on 127.0.0.1:PORT with process id PID; prints the server's resident set
size before and after. Loopback only, bounded: N sockets, one datagram each, then a 1 s wait.

    python3 benches/stalled-transfers.py PID PORT [N] [FILE]
"""
import socket
import sys
import time


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    pid, port = int(sys.argv[1]), int(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 512
    name = (sys.argv[4] if len(sys.argv) > 4 else "demo-1MiB.bin").encode()
    before = rss_kb(pid)
    socks = []
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # 16 requests per address: the server's default per-peer limit.
        s.bind((f"127.9.{i // 16 + 1}.1", 0))
        s.sendto(b"\x00\x01" + name + b"\x00octet\x00blksize\x001468\x00", ("127.0.0.1", port))
        socks.append(s)
    time.sleep(1.0)
    print(f"{n} stalled transfers of {name.decode()}: RSS {before} kB -> {rss_kb(pid)} kB")


if __name__ == "__main__":
    main()
