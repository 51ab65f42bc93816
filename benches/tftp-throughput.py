#!/usr/bin/env python3
"""Side-by-side TFTP throughput on loopback: the same file, the same client, several servers.

Serves one random file (40 MiB by default) from cnf-server (if built), tftpd-hpa and atftpd, and
fetches it with the same client (atftp, which can ask for blksize and windowsize) over a grid of
blksize x windowsize, interleaving servers run by run, checking every byte, and prints medians and
ratios against the best peer. A run that takes longer than --limit seconds counts as a stall.

    python3 benches/tftp-throughput.py [--size-mib 40] [--runs 5] [--limit 60] [--busy-poll-us 100]
                                       [--single-port] [--baseline OLD_CNF_SERVER]

With --busy-poll-us N a second cnf-server runs with `--busy-poll-us N` (it polls its socket
instead of sleeping while a transfer runs alone; 50 µs by default, 0 turns it off) and gets a
column and a ratio of its own. With --single-port another runs with `--single-port` (a mode of
its own in builds before 2026-12-06, the default since; useful against a `--baseline` build). With --baseline BINARY another cnf-server
build runs beside the current one (A/B of a change in one run), with a ratio current / baseline.

Needs the peers (sudo bash peers/install.sh) and, for cnf-server,
`cargo build --release --example cnf-server`. Loopback only; every process is stopped at the end.
"""
from benchlib import CNF_SERVER, SERVE, free_port, wait_until_it_answers
import argparse, os, shutil, signal, statistics, subprocess, sys, tempfile, time

POLLING = "cnf-server (busy-poll)"
SINGLE_PORT = "cnf-server (single-port)"
BASELINE = "baseline"

def start(name, root, busy_poll_us, baseline):
    port = free_port()
    if name in ("cnf-server", POLLING, SINGLE_PORT, BASELINE):
        binary = baseline if name == BASELINE else CNF_SERVER
        argv = [binary, "--root", root, "--bind", f"127.0.0.1:{port}",
                "--max-blksize", "65464", "--max-windowsize", "64"]
        if name == POLLING:
            argv += ["--busy-poll-us", str(busy_poll_us)]
        if name == SINGLE_PORT:
            argv += ["--single-port"]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until_it_answers(port)
        return port, proc.pid
    out = subprocess.run(["bash", SERVE, name, root, str(port)], capture_output=True, text=True, check=True)
    return port, int(out.stdout.strip())

def fetch(port, blksize, windowsize, out, limit):
    argv = ["atftp", "--option", f"blksize {blksize}", "--option", "tsize 0"]
    if windowsize > 1:
        argv += ["--option", f"windowsize {windowsize}"]
    argv += ["-g", "-r", "file.bin", "-l", out, "127.0.0.1", str(port)]
    # The limit is coreutils' timeout, not subprocess's: with a timeout, Popen.wait polls the
    # child with sleeps growing to 50 ms, which quantised every fetch to 50 ms steps (a 65 ms
    # fetch read as 65 or 115 ms, and fast cells looked bimodal). A plain wait is exact.
    argv = ["timeout", "--kill-after=1", str(limit)] + argv
    started = time.perf_counter()
    code = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode
    elapsed = time.perf_counter() - started
    if code in (124, 137):
        return None
    if code != 0:
        return "error"
    return elapsed

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=40)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--limit", type=float, default=60)
    ap.add_argument("--blksizes", default="512,1468,8192,65464")
    ap.add_argument("--windowsizes", default="1,8,16,64")
    ap.add_argument("--busy-poll-us", type=int, default=0,
                    help="also run cnf-server with --busy-poll-us N (0: no such column)")
    ap.add_argument("--single-port", action="store_true", help="also run cnf-server --single-port")
    ap.add_argument("--baseline", metavar="BINARY",
                    help="another cnf-server build, run beside the current one (A/B in one run)")
    args = ap.parse_args()
    if args.baseline and not os.access(args.baseline, os.X_OK):
        sys.exit(f"--baseline {args.baseline}: not an executable")
    if not shutil.which("atftp"):
        sys.exit("atftp not installed: sudo bash peers/install.sh")
    servers = ["tftpd-hpa", "atftpd"]
    ours = []
    if os.path.exists(CNF_SERVER):
        ours = (["cnf-server"] + ([POLLING] if args.busy_poll_us > 0 else [])
                + ([SINGLE_PORT] if args.single_port else []) + ([BASELINE] if args.baseline else []))
        servers = ours + servers
    else:
        print("cnf-server not built (cargo build --release --example cnf-server): peers only", file=sys.stderr)
    root = tempfile.mkdtemp(prefix="cnfkit-throughput-")
    os.chmod(root, 0o755)
    data = os.urandom(args.size_mib << 20)
    with open(os.path.join(root, "file.bin"), "wb") as f:
        f.write(data)
    os.chmod(os.path.join(root, "file.bin"), 0o644)
    running = {}
    try:
        for name in servers:
            running[name] = start(name, root, args.busy_poll_us, args.baseline)
        out = os.path.join(tempfile.mkdtemp(prefix="cnfkit-out-"), "out.bin")
        grid = [(int(b), int(w)) for b in args.blksizes.split(",") for w in args.windowsizes.split(",")]
        print(f"{args.size_mib} MiB, {args.runs} runs, atftp client, median MB/s (10^6 B/s); "
              f"'stall' = over {args.limit:.0f} s"
              + (f"; busy-poll = --busy-poll-us {args.busy_poll_us}" if args.busy_poll_us else ""))
        versus = [n for n in ours if n != BASELINE]
        ratios = [f"{name} / best peer" for name in ours] + [f"{n} / baseline" for n in versus if args.baseline]
        print("| blksize | windowsize | " + " | ".join(servers + ratios) + " |")
        print("|---:|---:|" + "---:|" * (len(servers) + len(ratios)))
        for blksize, windowsize in grid:
            times = {name: [] for name in servers}
            for _ in range(args.runs):
                for name in servers:  # interleaved: the machine's noise hits everyone alike
                    if os.path.exists(out):
                        os.remove(out)
                    t = fetch(running[name][0], blksize, windowsize, out, args.limit)
                    if isinstance(t, float):
                        with open(out, "rb") as f:
                            if f.read() != data:
                                t = "corrupt"
                    times[name].append(t)
            cells, rates = [], {}
            for name in servers:
                good = [t for t in times[name] if isinstance(t, float)]
                if len(good) == len(times[name]):
                    rate = len(data) / statistics.median(good) / 1e6
                    rates[name] = rate
                    cells.append(f"{rate:.0f}")
                else:
                    bad = [t for t in times[name] if not isinstance(t, float)]
                    cells.append("stall" if None in bad else str(bad[0]))
            peers = [rates[n] for n in servers if n not in ours and n in rates]
            for name in ours:
                cells.append(f"{rates[name] / max(peers):.2f}x" if name in rates and peers else "-")
            if args.baseline:
                for name in versus:
                    cells.append(f"{rates[name] / rates[BASELINE]:.2f}x"
                                 if name in rates and BASELINE in rates else "-")
            print(f"| {blksize} | {windowsize} | " + " | ".join(cells) + " |", flush=True)
    finally:
        for name, (_, pid) in running.items():
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        shutil.rmtree(root, ignore_errors=True)

if __name__ == "__main__":
    main()
