#!/usr/bin/env python3
"""Boot storms side by side: the same site tree served by cnf-server, tftpd-hpa, atftpd and
dnsmasq, the same simulated phones (phone-sim), runs interleaved, medians and spreads, ratios
against the best peer. Loopback only; every process is stopped at the end.

    python3 benches/boot-storm.py [--runs 5] [--storms 100x50,1000x200,5000x1000] [--images]
                                  [--loss 0.01,0.05] [--loss-storm 1000x200] [--servers ...]
                                  [--baseline path/to/older/cnf-server]

`--servers baseline-single-port` runs the `--baseline` build with `--single-port`, reported
against `single-port`.

Each phone does the real sequence: CTLSEP<MAC>.tlv, ITLSEP<MAC>.tlv, ITLFile.tlv (misses),
SEP<MAC>.cnf.xml (every other phone has one), XMLDefault.cnf.xml (14 KiB) for the others; with
--images each phone is told to upgrade and fetches the .loads manifest and four 512 KiB images
(2 MiB). Per run: wall time, boot time p50/p99/max, failures (stuck or failed phones),
retransmits (the phones' side), server CPU time (user+system, children included) and peak RSS
(VmHWM, reset before each run; for tftpd-hpa that is the listening parent, its per-request
children are not counted). As root, each server runs in a control group of its own, so its CPU
counts every process it forks (tftpd-hpa's child per request included). The CPU is also shown
split into user and system time, as the kernel accounts it (clock ticks: 10 ms steps each run).

The loss runs put benches/udp-loss-proxy.py (seeded) between phones and server, dropping the
given fraction of datagrams in both directions.

`--servers single-port` is cnf-server with `--single-port` (every transfer from port 69);
`--servers registry` is cnf-server with `--admin` (the phone registry, metrics and live feed on),
reported against plain cnf-server as an A/B ratio (`registry-single-port` against `single-port`);
`--servers s3` is cnf-server serving the same
tree from an S3 bucket (`--source s3://`, a real S3 server, s3s-fs, on loopback, through the
mirror in a cache directory), timed after its first listing, also reported against plain
cnf-server.

Needs: `cargo build --release --example cnf-server --example phone-sim`, the peers
(sudo bash peers/install.sh), root for dnsmasq (its TFTP port is always 69).
"""
from benchlib import CNF_SERVER, OURS, PHONE_SIM, free_port, mac, machine, med, start_servers
import argparse, json, os, random, shutil, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
PROXY = os.path.join(HERE, "udp-loss-proxy.py")
OLD_LOAD, NEW_LOAD = "SCCP42.8-5-4S", "SCCP42.9-4-2SR3-1S"


def write(root, name, data):
    path = os.path.join(root, name)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o644)


def build_tree(phones, images):
    root = tempfile.mkdtemp(prefix="cnfkit-storm-")
    os.chmod(root, 0o755)
    cm = ("      <member priority=\"%d\"><callManager><ports><ethernetPhonePort>2000</ethernetPhonePort>"
          "<sipPort>5060</sipPort></ports><processNodeName>10.20.0.%d</processNodeName></callManager></member>\n")
    xml = ["<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Default>\n  <callManagerGroup>\n    <members>\n"]
    xml += [cm % (p, 10 + p) for p in range(2)]
    xml.append("    </members>\n  </callManagerGroup>\n")
    xml.append("  <loadInformation434 model=\"Cisco 7942\">%s</loadInformation434>\n" % NEW_LOAD)
    n = 0
    while sum(len(x) for x in xml) < 14 * 1024 - 200:
        xml.append("  <loadInformation%d model=\"Cisco Lab %d\">SCCP%02d.9-4-2SR4-%dS</loadInformation%d>\n"
                   % (40000 + n, n, n % 100, n % 9, 40000 + n))
        n += 1
    xml.append("  <servicesURL>http://10.20.0.20/services.php</servicesURL>\n</Default>\n")
    write(root, "XMLDefault.cnf.xml", "".join(xml).encode())
    sep = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<device>\n  <devicePool>\n    <callManagerGroup>\n"
           "      <members>\n" + cm % (0, 10) + "      </members>\n    </callManagerGroup>\n  </devicePool>\n"
           "  <loadInformation>%s</loadInformation>\n</device>\n" % NEW_LOAD).encode()
    for i in range(0, phones, 2):
        write(root, "SEP%s.cnf.xml" % mac(i), sep)
    names = ["jar42sccp.9-4-2SR3-1S.sbn", "apps42.9-4-2SR3-1S.sbn", "cnu42.9-4-2SR3-1S.sbn", "dsp42.9-4-2SR3-1S.sbn"]
    write(root, NEW_LOAD + ".loads", ("\r\n".join(names) + "\r\n").encode())
    if images:
        rnd = random.Random(7)
        for name in names:
            write(root, name, bytes(rnd.getrandbits(8) for _ in range(512 * 1024)))
    return root


def storm(server_addr, phones, concurrency, images, limit):
    argv = [PHONE_SIM, "--server", server_addr, "--phones", str(phones), "--concurrency", str(concurrency),
            "--running-load", OLD_LOAD if images else NEW_LOAD, "--json"]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return None
    lines = [l for l in out.stdout.splitlines() if l.startswith("{\"summary\"")]
    return json.loads(lines[-1])["summary"] if lines else None


def measure(server, target, phones, concurrency, images, limit):
    server.reset_peak()
    cpu0, (user0, system0) = server.cpu_seconds(), server.cpu_split()
    s = storm(target, phones, concurrency, images, limit)
    if s is None:
        return None
    s["cpu_s"] = server.cpu_seconds() - cpu0
    user1, system1 = server.cpu_split()
    s["user_s"], s["system_s"] = user1 - user0, system1 - system0
    s["rss_mib"] = server.peak_rss_mib()
    s["failures"] = s["stuck"] + s["failed"]
    return s


def spread(values):
    return "%.0f-%.0f" % (min(values), max(values)) if values else "-"


def table(title, results, servers):
    print("\n" + title)
    print("| server | wall ms (min-max) | p50 ms | p99 ms | max ms | failures | retransmits | CPU s | user + system s | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in servers:
        runs = results.get(name, [])
        ok = [r for r in runs if r]
        if not ok:
            print("| %s | stalled or failed to run (%d runs) | | | | | | | | |" % (name, len(runs)))
            continue
        print("| %s | %.0f (%s) | %.0f | %.0f | %.0f | %d | %d | %.2f | %.2f + %.2f | %.1f |" % (
            name, med([r["wall_ms"] for r in ok]), spread([r["wall_ms"] for r in ok]),
            med([r["p50_ms"] for r in ok]), med([r["p99_ms"] for r in ok]), med([r["max_ms"] for r in ok]),
            max(r["failures"] for r in ok) + (len(runs) - len(ok)), med([r["retransmits"] for r in ok]),
            med([r["cpu_s"] for r in ok]), med([r["user_s"] for r in ok]), med([r["system_s"] for r in ok]),
            max(r["rss_mib"] for r in ok)))
    if any(r and "from_server" in r for rs in results.values() for r in rs):
        print("datagrams through the proxy (median per run): server sent / phones sent / dropped")
        for name in servers:
            ok = [r for r in results.get(name, []) if r and "from_server" in r]
            if ok:
                print("  %-10s %8.0f / %8.0f / %6.0f" % (name, med([r["from_server"] for r in ok]),
                                                        med([r["from_phones"] for r in ok]), med([r["dropped"] for r in ok])))
    peers = {n: [r for r in results.get(n, []) if r] for n in servers if n not in OURS}
    peers = {n: v for n, v in peers.items() if v}
    for variant in [n for n in servers if n in ("cnf-server", "single-port")]:
        mine = [r for r in results.get(variant, []) if r]
        if not (mine and peers):
            continue
        for key, label in [("wall_ms", "wall"), ("p99_ms", "p99"), ("cpu_s", "CPU")]:
            best = min(peers, key=lambda n: med([r[key] for r in peers[n]]))
            ratio = med([r[key] for r in mine]) / max(med([r[key] for r in peers[best]]), 1e-9)
            print("%s %s / best peer (%s): %.2fx" % (variant, label, best, ratio))
    for variant, baseline in [("cnf-server", "baseline"), ("single-port", "baseline-single-port")]:
        mine = [r for r in results.get(variant, []) if r]
        base = [r for r in results.get(baseline, []) if r]
        if mine and base:
            for key, label in [("wall_ms", "wall"), ("p99_ms", "p99"), ("cpu_s", "CPU")]:
                ratio = med([r[key] for r in mine]) / max(med([r[key] for r in base]), 1e-9)
                print("%s %s / %s: %.2fx" % (variant, label, baseline, ratio))
    for variant, reference, label_ab in [("registry", "cnf-server", "registry on / off"),
                                         ("registry-single-port", "single-port", "single-port, registry on / off"),
                                         ("s3", "cnf-server", "from S3 / from --root")]:
        other = [r for r in results.get(variant, []) if r]
        plain = [r for r in results.get(reference, []) if r]
        if plain and other:
            for key, label in [("wall_ms", "wall"), ("p99_ms", "p99"), ("cpu_s", "CPU")]:
                ratio = med([r[key] for r in other]) / max(med([r[key] for r in plain]), 1e-9)
                print("%s %s: %.2fx" % (label_ab, label, ratio))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--storms", default="100x50,1000x200,5000x1000")
    ap.add_argument("--images", action="store_true", help="phones upgrade: .loads + 2 MiB of images each")
    ap.add_argument("--loss", default="0.01,0.05", help="loss fractions for the proxy runs ('' to skip)")
    ap.add_argument("--loss-storm", default="1000x200")
    ap.add_argument("--servers", default="cnf-server,tftpd-hpa,atftpd,dnsmasq")
    ap.add_argument("--limit", type=float, default=300, help="seconds before a storm counts as stalled")
    ap.add_argument("--baseline", metavar="BINARY",
                    help="another cnf-server build, run as server 'baseline' (A/B a change in one run)")
    args = ap.parse_args()
    if args.baseline:
        if not os.access(args.baseline, os.X_OK):
            sys.exit("--baseline %s: not an executable" % args.baseline)
        if not any(n.startswith("baseline") for n in args.servers.split(",")):
            args.servers = "baseline," + args.servers
    for path in (CNF_SERVER, PHONE_SIM):
        if not os.path.exists(path):
            sys.exit("build first: cargo build --release --example cnf-server --example phone-sim")
    storms = [tuple(int(x) for x in s.split("x")) for s in args.storms.split(",") if s]
    loss_storm = tuple(int(x) for x in args.loss_storm.split("x"))
    max_phones = max([p for p, _ in storms] + [loss_storm[0]])
    root = build_tree(max_phones, args.images)
    wanted = args.servers.split(",")
    servers = {}
    try:
        servers = start_servers(wanted, root, args.baseline)
        names = [n for n in wanted if n in servers]
        print("machine: %s; runs interleaved, %d per cell; %s" % (
            machine(), args.runs,
            "phones upgrade (.loads + 2 MiB images)" if args.images else "config only (phones up to date)"))
        for phones, conc in storms:
            results = {n: [] for n in names}
            for _ in range(args.runs):
                for n in names:
                    results[n].append(measure(servers[n], servers[n].addr, phones, conc, args.images, args.limit))
            table("boot storm: %d phones, concurrency %d" % (phones, conc), results, names)
        for loss in [float(x) for x in args.loss.split(",") if x]:
            phones, conc = loss_storm
            results = {n: [] for n in names}
            for run in range(args.runs):
                for n in names:
                    port = free_port()
                    proxy = subprocess.Popen([sys.executable, PROXY, "--listen", "127.0.0.1:%d" % port,
                                              "--server", servers[n].addr, "--loss", str(loss),
                                              "--seed", str(run + 1)], stderr=subprocess.PIPE, text=True)
                    time.sleep(0.3)
                    r = None
                    try:
                        r = measure(servers[n], "127.0.0.1:%d" % port, phones, conc, args.images, args.limit)
                    finally:
                        proxy.terminate()
                        counts = proxy.communicate(timeout=10)[1]
                    if r is not None:
                        try:
                            r.update(json.loads(counts.strip().splitlines()[-1]))
                        except (ValueError, IndexError):
                            pass
                    results[n].append(r)
            table("loss %.0f%% both ways (seeded proxy): %d phones, concurrency %d" % (loss * 100, phones, conc),
                  results, names)
    finally:
        for s in servers.values():
            s.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
