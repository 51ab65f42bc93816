#!/usr/bin/env python3
"""A loopback UDP proxy for TFTP that drops a seeded fraction of datagrams in both directions.

    python3 benches/udp-loss-proxy.py --listen 127.0.0.1:7000 --server 127.0.0.1:6969 --loss 0.05 --seed 1

TFTP answers from a new port per transfer (RFC 1350 TIDs), so the proxy keeps, per client
endpoint, an upstream socket bound to the client's own IP (the server still sees distinct
peers), and per (client endpoint, server TID) a front socket that stands for that TID toward
the client. Drops are decided by a seeded generator, so runs repeat. Idle mappings are closed
after --idle seconds; the proxy exits after --lifetime seconds or on SIGTERM, printing its
counters as JSON on stderr.
"""
import argparse, json, random, resource, selectors, signal, socket, sys, time


def addr(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", type=addr, required=True)
    ap.add_argument("--server", type=addr, required=True)
    ap.add_argument("--loss", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--idle", type=float, default=20.0)
    ap.add_argument("--lifetime", type=float, default=3600.0)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    rng = random.Random(args.seed)
    sel = selectors.DefaultSelector()
    front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    front.bind(args.listen)
    front.setblocking(False)
    sel.register(front, selectors.EVENT_READ, ("front", None))
    upstream = {}   # client endpoint -> (socket, last use)
    tids = {}       # (client endpoint, server endpoint) -> (socket, last use)
    # Datagrams each side sent (dropped ones included), and how many were dropped.
    stats = {"from_phones": 0, "from_server": 0, "dropped": 0}
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    started = time.monotonic()

    def drop(sender):
        stats[sender] += 1
        if rng.random() < args.loss:
            stats["dropped"] += 1
            return True
        return False

    def upstream_for(client):
        entry = upstream.get(client)
        if entry is None:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((client[0], 0))
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, ("up", client))
            entry = [s, 0.0]
            upstream[client] = entry
        entry[1] = time.monotonic()
        return entry[0]

    def front_for(client, server):
        key = (client, server)
        entry = tids.get(key)
        if entry is None:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((args.listen[0], 0))
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, ("tid", key))
            entry = [s, 0.0]
            tids[key] = entry
        entry[1] = time.monotonic()
        return entry[0]

    last_sweep = time.monotonic()
    while not stop and time.monotonic() - started < args.lifetime:
        for key, _ in sel.select(timeout=0.5):
            kind, info = key.data
            sock = key.fileobj
            while True:
                try:
                    data, src = sock.recvfrom(65536)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    break
                if kind == "front":
                    # A request (or its retransmission) to the server's well-known port.
                    if not drop("from_phones"):
                        upstream_for(src).sendto(data, args.server)
                elif kind == "up":
                    # The server answering a client, from its transfer TID.
                    if not drop("from_server"):
                        front_for(info, src).sendto(data, info)
                else:
                    # The client answering the server's TID.
                    client, server = info
                    if src != client:
                        continue
                    tids[info][1] = time.monotonic()
                    if not drop("from_phones"):
                        upstream_for(client).sendto(data, server)
        now = time.monotonic()
        if now - last_sweep > 1.0:
            last_sweep = now
            for table in (upstream, tids):
                for k in [k for k, (_, used) in table.items() if now - used > args.idle]:
                    s, _ = table.pop(k)
                    sel.unregister(s)
                    s.close()
    print(json.dumps(stats), file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
