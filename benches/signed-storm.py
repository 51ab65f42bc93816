#!/usr/bin/env python3
"""Signed configurations at storm scale, side by side with the same storm fetching plain files.

    python3 benches/signed-storm.py [--runs 3] [--phones 1000] [--concurrency 64] [--bits 4096]
                                    [--digest sha512] [--settle 10] [--baseline path/to/old/cnf-server]
                                    [--only-config]

One cnf-server per run serves a tree of one SEP<MAC>.cnf.xml per phone and signs `.sgn`
variants on the fly with a fresh RSA key (openssl genrsa). Each run: the server starts, the
phones wait --settle seconds, then three storms of phone-sim: phones holding a trust list (they
ask for SEP<MAC>.cnf.xml.sgn), the same storm again, and the phones without a trust list (plain
SEP<MAC>.cnf.xml). Every phone boots from its own loopback address. Reported: wall time,
boot time p50, failures and server CPU (user+system) per storm, and the ratios signed/plain.
With --baseline the older build runs the same scenario, runs interleaved.

--only-config is the storm of the issue that measured this from outside: a tree of nothing but
one 2984-byte SEP<MAC>.cnf.xml per phone (a 79xx configuration's size), and each phone asks
once for its own file with blksize 1468, nothing else (`phone-sim --only-config`), in the order
plain, signed, signed again, plain. At blksize 1468 the signed file takes as many DATA blocks as
the plain one, so the gap between them is the server's own work per request. Reported against
the mean of the two plain storms.

Needs: `cargo build --release --example cnf-server --example phone-sim`, openssl.
"""
from benchlib import CNF_SERVER, PHONE_SIM, CpuGroup, cpu_seconds, free_port, mac
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, time

LOAD = "SIP78xx.14-2-1-0001-14"



def build_tree(phones):
    root = tempfile.mkdtemp(prefix="cnfkit-signed-storm-")
    cm = ("      <member priority=\"0\"><callManager><ports><sipPort>5060</sipPort></ports>"
          "<processNodeName>10.20.0.10</processNodeName></callManager></member>\n")
    for i in range(phones):
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<device>\n  <devicePool>\n"
                "    <callManagerGroup>\n      <members>\n" + cm + "      </members>\n"
                "    </callManagerGroup>\n  </devicePool>\n  <sipProfile><phoneLabel>%s</phoneLabel>"
                "</sipProfile>\n  <loadInformation>%s</loadInformation>\n</device>\n") % (mac(i), LOAD)
        with open(os.path.join(root, "SEP%s.cnf.xml" % mac(i)), "w") as f:
            f.write(body)
    with open(os.path.join(root, "XMLDefault.cnf.xml"), "w") as f:
        f.write("<Default>\n  <loadInformation>%s</loadInformation>\n</Default>\n" % LOAD)
    return root


# A 79xx SCCP configuration's shape, padded to the size of the one measured from outside.
CONFIG_79XX_BYTES = 2984


def config_79xx(i):
    head = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<device xsi:type=\"axl:XIPPhone\" ctiid=\"%d\">\n"
            "<fullConfig>true</fullConfig>\n<deviceProtocol>SCCP</deviceProtocol>\n"
            "<sshUserId>admin</sshUserId>\n<sshPassword>secret</sshPassword>\n<devicePool>\n"
            "<dateTimeSetting><dateTemplate>M/D/Y</dateTemplate><timeZone>Central Standard/Daylight Time</timeZone>"
            "</dateTimeSetting>\n<callManagerGroup><members><member priority=\"0\"><callManager>"
            "<ports><ethernetPhonePort>2000</ethernetPhonePort></ports>"
            "<processNodeName>10.20.0.10</processNodeName></callManager></member></members></callManagerGroup>\n"
            "</devicePool>\n<loadInformation>SCCP41.9-4-2SR3-1S</loadInformation>\n"
            "<vendorConfig><disableSpeaker>false</disableSpeaker><pcPort>0</pcPort><webAccess>0</webAccess>"
            "</vendorConfig>\n<phoneLabel>%s</phoneLabel>\n") % (i, mac(i))
    tail = "</device>\n"
    filler = "<!-- %s -->\n" % ("x" * (CONFIG_79XX_BYTES - len(head) - len(tail) - 10))
    body = head + filler + tail
    assert len(body) == CONFIG_79XX_BYTES, len(body)
    return body


def build_config_tree(phones):
    """The outside measurement's tree: one 2984-byte SEP<MAC>.cnf.xml per phone, nothing else."""
    root = tempfile.mkdtemp(prefix="cnfkit-signed-storm-")
    for i in range(phones):
        with open(os.path.join(root, "SEP%s.cnf.xml" % mac(i)), "w") as f:
            f.write(config_79xx(i))
    return root


def storm(addr, args, trust_list):
    argv = [PHONE_SIM, "--server", addr, "--phones", str(args.phones), "--concurrency",
            str(args.concurrency), "--model", "8845", "--protocol", "sip", "--running-load", LOAD, "--json"]
    if args.only_config:
        argv.append("--only-config")
    if trust_list:
        argv.append("--trust-list")
    out = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    lines = [l for l in out.stdout.splitlines() if l.startswith("{\"summary\"")]
    if not lines:
        sys.exit("phone-sim printed no summary: %s" % out.stderr[-2000:])
    return json.loads(lines[-1])["summary"]


def run(server_bin, key, args, root, work):
    port = free_port()
    addr = "127.0.0.1:%d" % port
    log = open(os.path.join(work, "server-%d.log" % port), "w")
    proc = subprocess.Popen([server_bin, "--root", root, "--bind", addr, "--sign-key", key,
                             "--sign-cert", key, "--sign-digest", args.digest],
                            stdout=log, stderr=subprocess.STDOUT)
    # The server's CPU to the microsecond from a control group of its own where one can be
    # made (a storm costs tens of milliseconds: clock ticks are too coarse), else /proc.
    group = CpuGroup.join(proc.pid, "signed-%d" % port)
    cpu = group.seconds if group else (lambda: cpu_seconds(proc.pid))
    try:
        time.sleep(args.settle)
        result = {}
        storms = [("signed", True), ("signed again", True), ("plain", False)]
        if args.only_config:
            storms = [("plain", False), ("signed", True), ("signed again", True), ("plain again", False)]
        for label, trust in storms:
            cpu0 = cpu()
            s = storm(addr, args, trust)
            s["cpu_s"] = cpu() - cpu0
            s["failures"] = s["stuck"] + s["failed"]
            result[label] = s
        return result
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        if group:
            group.remove()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--phones", type=int, default=1000)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--bits", type=int, default=4096)
    p.add_argument("--digest", default="sha512")
    p.add_argument("--settle", type=float, default=10.0)
    p.add_argument("--baseline")
    p.add_argument("--only-config", action="store_true",
                   help="one request per phone for its own 2984-byte config (see above)")
    args = p.parse_args()
    for path in (CNF_SERVER, PHONE_SIM):
        if not os.path.exists(path):
            sys.exit("build first: cargo build --release --example cnf-server --example phone-sim")
    work = tempfile.mkdtemp(prefix="cnfkit-signed-storm-work-")
    key = os.path.join(work, "tftp.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:%d" % args.bits, "-nodes", "-keyout", key,
                    "-out", os.path.join(work, "cert.pem"), "-days", "30", "-subj", "/CN=storm-tftp"],
                   check=True, capture_output=True)
    with open(key, "a") as f, open(os.path.join(work, "cert.pem")) as c:
        f.write(c.read())
    builds = [("cnf-server", CNF_SERVER)] + ([("baseline", args.baseline)] if args.baseline else [])
    results = {name: [] for name, _ in builds}
    try:
        for i in range(args.runs):
            for name, binary in builds:
                root = build_config_tree(args.phones) if args.only_config else build_tree(args.phones)
                try:
                    r = run(binary, key, args, root, work)
                finally:
                    shutil.rmtree(root, ignore_errors=True)
                results[name].append(r)
                print("run %d %-10s " % (i + 1, name) + ", ".join(
                    "%s %.0f ms (p50 %.0f, failures %d, CPU %.2f s)" % (k, v["wall_ms"], v["p50_ms"], v["failures"], v["cpu_s"])
                    for k, v in r.items()), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    med = statistics.median
    print("\n%d phones, %d at a time, RSA-%d %s, storms %.0f s after the server started, %d runs (median, min-max):"
          % (args.phones, args.concurrency, args.bits, args.digest, args.settle, args.runs))
    print("| build | storm | wall ms | p50 ms | failures | server CPU s | wall / plain | CPU / plain |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    labels = ["signed", "signed again", "plain"]
    if args.only_config:
        labels = ["plain", "signed", "signed again", "plain again"]
    for name, _ in builds:
        runs = results[name]
        # The plain reference: the mean of the plain storms of each run, then their median.
        plain = med([statistics.mean(r[k]["wall_ms"] for k in r if k.startswith("plain")) for r in runs])
        plain_cpu = med([statistics.mean(r[k]["cpu_s"] for k in r if k.startswith("plain")) for r in runs])
        for label in labels:
            walls = [r[label]["wall_ms"] for r in runs]
            cpus = [r[label]["cpu_s"] for r in runs]
            print("| %s | %s | %.0f (%.0f-%.0f) | %.0f | %d | %.3f | %.2fx | %.2fx |" % (
                name, label, med(walls), min(walls), max(walls), med([r[label]["p50_ms"] for r in runs]),
                max(r[label]["failures"] for r in runs), med(cpus),
                med(walls) / max(plain, 1e-9), med(cpus) / max(plain_cpu, 1e-9)))


if __name__ == "__main__":
    main()
