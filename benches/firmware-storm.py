#!/usr/bin/env python3
"""Firmware storms side by side: N phones fetch one firmware image at once (a site-wide upgrade
after a new load is named), each phone a curl TFTP client from its own loopback address, the same
image served by cnf-server, tftpd-hpa, atftpd and dnsmasq, runs interleaved, medians and spreads,
ratios against the best peer and against tftpd-hpa's CPU. Loopback only; every process is stopped
at the end.

    python3 benches/firmware-storm.py [--phones 50,200] [--size-mib 4] [--blksize 1468]
                                      [--runs 3] [--servers ...] [--baseline OLD_CNF_SERVER]

Per run: wall time from the first client's start to the last client's end, each client's time
(p50, max), failures (a client that failed or fetched the wrong number of bytes; the first client
of every run keeps its copy, which is compared byte for byte), the curl clients' CPU (together: with
the server's, what bounds the wall on a small machine), and server CPU (user+system of
everything the server runs: as root each server gets a control group of its own, so tftpd-hpa's
child per transfer is counted). Transfers run in lockstep (no windowsize: curl asks for none),
blksize as given.

Needs: `cargo build --release --example cnf-server`, the peers and curl (sudo bash
peers/install.sh), root for dnsmasq (its TFTP port is always 69).
"""
from benchlib import CNF_SERVER, OURS, machine, med, start_servers
import argparse, filecmp, os, random, resource, shutil, statistics, subprocess, sys, tempfile, time

IMAGE = "SIP78xx.14-3-1-0001-89.sbn"


def client_address(i):
    """Phone i's own loopback address: 127.1.x.y, clear of the servers' 127.0.0.x."""
    return "127.1.%d.%d" % (i // 250, i % 250 + 1)


def storm(server, phones, blksize, size, image_path, limit, scratch):
    host, port = server.addr.rsplit(":", 1)
    url = "tftp://%s:%s/%s" % (host, port, IMAGE)
    copy = os.path.join(scratch, "copy")
    cpu0 = server.cpu_seconds()
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    clients = []
    for i in range(phones):
        out = copy if i == 0 else "/dev/null"
        argv = ["curl", "-sS", "--interface", client_address(i), "--tftp-blksize", str(blksize),
                "--max-time", str(int(limit)), "-o", out, "-w", "%{size_download} %{time_total}", url]
        clients.append(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    times, failures = [], 0
    for c in clients:
        out, err = c.communicate()
        fields = out.split()
        if c.returncode != 0 or len(fields) != 2 or int(float(fields[0])) != size:
            failures += 1
            if failures == 1:
                print("  %s: a client failed (exit %d): %s %s" % (server.name, c.returncode, out.strip(), err.strip()),
                      file=sys.stderr)
            continue
        times.append(float(fields[1]) * 1000)
    wall_ms = (time.monotonic() - started) * 1000
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    clients_cpu_s = (children.ru_utime - children0.ru_utime) + (children.ru_stime - children0.ru_stime)
    # Without a control group, tftpd-hpa's children count once it has reaped them.
    time.sleep(0.3)
    cpu_s = server.cpu_seconds() - cpu0
    if not (os.path.exists(copy) and filecmp.cmp(copy, image_path, shallow=False)):
        failures += 1
        print("  %s: the first client's copy differs from the image" % server.name, file=sys.stderr)
    if os.path.exists(copy):
        os.remove(copy)
    return {"wall_ms": wall_ms, "p50_ms": statistics.median(times) if times else float("nan"),
            "max_ms": max(times) if times else float("nan"), "failures": failures, "cpu_s": cpu_s,
            "clients_cpu_s": clients_cpu_s}


def table(title, results, names):
    print("\n" + title)
    print("| server | wall ms (min-max) | client p50 ms | client max ms | failures | CPU s (min-max) | clients' CPU s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in names:
        runs = results[name]
        walls, cpus = [r["wall_ms"] for r in runs], [r["cpu_s"] for r in runs]
        print("| %s | %.0f (%.0f-%.0f) | %.0f | %.0f | %d | %.2f (%.2f-%.2f) | %.2f |" % (
            name, med(walls), min(walls), max(walls), med([r["p50_ms"] for r in runs]),
            med([r["max_ms"] for r in runs]), sum(r["failures"] for r in runs), med(cpus), min(cpus), max(cpus),
            med([r["clients_cpu_s"] for r in runs])))
    ours = results.get("cnf-server")
    peers = {n: results[n] for n in names if n not in OURS and all(r["failures"] == 0 for r in results[n])}
    if ours and peers:
        best = min(peers, key=lambda n: med([r["wall_ms"] for r in peers[n]]))
        print("cnf-server wall / best peer (%s): %.2fx" % (
            best, med([r["wall_ms"] for r in ours]) / med([r["wall_ms"] for r in peers[best]])))
        for peer in peers:
            print("cnf-server CPU / %s: %.2fx" % (
                peer, med([r["cpu_s"] for r in ours]) / max(med([r["cpu_s"] for r in peers[peer]]), 1e-9)))
    for other in [n for n in names if n in OURS and n != "cnf-server"]:
        if ours:
            print("%s / cnf-server: wall %.2fx, CPU %.2fx" % (
                other, med([r["wall_ms"] for r in results[other]]) / med([r["wall_ms"] for r in ours]),
                med([r["cpu_s"] for r in results[other]]) / max(med([r["cpu_s"] for r in ours]), 1e-9)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--phones", default="50,200", help="storm sizes, comma-separated")
    ap.add_argument("--size-mib", type=float, default=4)
    ap.add_argument("--blksize", type=int, default=1468)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--servers", default="cnf-server,tftpd-hpa,atftpd,dnsmasq")
    ap.add_argument("--limit", type=float, default=120, help="seconds before a client gives up")
    ap.add_argument("--baseline", metavar="BINARY",
                    help="another cnf-server build, run as server 'baseline' (A/B a change in one run)")
    args = ap.parse_args()
    if not os.path.exists(CNF_SERVER):
        sys.exit("build first: cargo build --release --example cnf-server")
    if shutil.which("curl") is None:
        sys.exit("curl is missing: sudo bash peers/install.sh")
    wanted = args.servers.split(",")
    if args.baseline:
        if not os.access(args.baseline, os.X_OK):
            sys.exit("--baseline %s: not an executable" % args.baseline)
        if "baseline" not in wanted:
            wanted.insert(0, "baseline")
    root = tempfile.mkdtemp(prefix="cnfkit-firmware-")
    scratch = tempfile.mkdtemp(prefix="cnfkit-firmware-copy-")
    os.chmod(root, 0o755)
    size = int(args.size_mib * 1024 * 1024)
    image_path = os.path.join(root, IMAGE)
    with open(image_path, "wb") as f:
        f.write(random.Random(7).randbytes(size))
    os.chmod(image_path, 0o644)
    servers = {}
    try:
        servers = start_servers(wanted, root, args.baseline)
        names = [n for n in wanted if n in servers]
        print("machine: %s; %d runs interleaved per cell; %s MiB image, blksize %d, lockstep" % (
            machine(), args.runs, args.size_mib, args.blksize))
        for phones in [int(p) for p in args.phones.split(",") if p]:
            results = {n: [] for n in names}
            for _ in range(args.runs):
                for n in names:
                    results[n].append(storm(servers[n], phones, args.blksize, size, image_path, args.limit, scratch))
            table("firmware storm: %d phones fetch one %s MiB image at once" % (phones, args.size_mib), results, names)
    finally:
        for s in servers.values():
            s.stop()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
