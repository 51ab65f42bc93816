#!/usr/bin/env python3
"""cnf-server's HTTP listener against nginx on loopback, the same tree, the same clients.

Two workloads, runs interleaved (nginx, cnf-server, nginx, ...), medians and ratios:

- firmware: one curl fetching a 40 MiB image five times over one connection (MB/s), writing it
  to files (bound by the client's writes);
- firmware-discard: the same with `curl -o /dev/null`, so that the server's cost shows (each
  body's size checked with `-w %{size_download}`);
- configs: 10 000 requests for 200 small SEP<MAC>.cnf.xml files over 50 parallel keep-alive
  connections (`curl --parallel --parallel-max 50`, requests per second; curl runs its
  transfers on one thread, so this is bounded by the client near 2000 requests a second);
- wrk: 5 s of `wrk -t2 -c50` on one small config (requests per second), when wrk is installed:
  the server's rate rather than the client's.

nginx runs with the Debian package's binary, a config this script writes (`worker_processes
auto`, `sendfile on`, `access_log off`, keep-alive), as the invoking user, on loopback.
cnf-server runs `--root TREE --http ADDR` (release build). Every body is checked by size, and
the firmware's MD5 once per server.

    cargo build --release --example cnf-server
    python3 benches/http-vs-nginx.py [--runs 5]

Needs nginx and curl (sudo bash peers/install.sh). Every process is stopped at the end.
"""
import benchlib
import argparse, hashlib, os, shutil, socket, statistics, subprocess, sys, tempfile, time

CNF_SERVER = benchlib.CNF_SERVER
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
FIRMWARE_MIB = 40
CONFIGS = 200
REQUESTS = 10_000


def free_port():
    return benchlib.free_port(socket.SOCK_STREAM)


def wait_listening(port, limit=5.0):
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on {port}")


def make_tree(root):
    firmware = os.urandom(FIRMWARE_MIB << 20)
    with open(os.path.join(root, "firmware.sbn"), "wb") as f:
        f.write(firmware)
    for i in range(CONFIGS):
        body = "<device>\n" + "".join(f"  <setting{j}>value {i} {j}</setting{j}>\n" for j in range(40)) + "</device>\n"
        with open(os.path.join(root, f"SEP0000000{i:05X}.cnf.xml"), "w") as f:
            f.write(body)
    with open(os.path.join(root, "XMLDefault.cnf.xml"), "w") as f:
        f.write("<Default/>\n")
    return hashlib.md5(firmware).hexdigest()


def start_nginx(root, work):
    port = free_port()
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""
worker_processes auto;
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    keepalive_timeout 30;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    types {{ text/xml xml; }}
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
""")
    proc = subprocess.Popen([NGINX, "-c", conf, "-p", work], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_listening(port)
    return port, proc


def start_cnf_server(root):
    tftp, http = free_port(), free_port()
    proc = subprocess.Popen([CNF_SERVER, "--root", root, "--bind", f"127.0.0.1:{tftp}",
                             "--http", f"127.0.0.1:{http}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "RUST_LOG": "warn"})
    wait_listening(http)
    return http, proc


def firmware_run(port, work, md5=None):
    urls = [f"http://127.0.0.1:{port}/firmware.sbn"] * 5
    outs = [os.path.join(work, f"fw{i}") for i in range(5)]
    argv = ["curl", "-sS", "--fail"]
    for url, out in zip(urls, outs):
        argv += ["-o", out, url]
    started = time.perf_counter()
    subprocess.run(argv, check=True)
    elapsed = time.perf_counter() - started
    for out in outs:
        assert os.path.getsize(out) == FIRMWARE_MIB << 20, out
    if md5:
        with open(outs[0], "rb") as f:
            assert hashlib.md5(f.read()).hexdigest() == md5, "firmware differs"
    for out in outs:
        os.remove(out)
    return 5 * (FIRMWARE_MIB << 20) / 1e6 / elapsed


def firmware_discard_run(port):
    url = f"http://127.0.0.1:{port}/firmware.sbn"
    argv = ["curl", "-sS", "--fail", "-w", "%{size_download}\n"]
    for _ in range(5):
        argv += ["-o", "/dev/null", url]
    started = time.perf_counter()
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    elapsed = time.perf_counter() - started
    sizes = [int(line) for line in out.split()]
    assert sizes == [FIRMWARE_MIB << 20] * 5, sizes
    return 5 * (FIRMWARE_MIB << 20) / 1e6 / elapsed


def configs_run(port, work, sizes):
    conf = os.path.join(work, "curl.conf")
    outdir = os.path.join(work, "configs")
    os.makedirs(outdir, exist_ok=True)
    with open(conf, "w") as f:
        for n in range(REQUESTS):
            name = f"SEP0000000{n % CONFIGS:05X}.cnf.xml"
            f.write(f'url = "http://127.0.0.1:{port}/{name}"\noutput = "{outdir}/{n}"\n')
    started = time.perf_counter()
    subprocess.run(["curl", "-sS", "--no-progress-meter", "--fail", "--parallel", "--parallel-max", "50", "-K", conf], check=True)
    elapsed = time.perf_counter() - started
    for n in (0, 1, REQUESTS - 1):
        assert os.path.getsize(f"{outdir}/{n}") == sizes[n % CONFIGS], n
    shutil.rmtree(outdir)
    return REQUESTS / elapsed


def wrk_run(port):
    out = subprocess.run(["wrk", "-t2", "-c50", "-d5s", f"http://127.0.0.1:{port}/SEP000000000007.cnf.xml"],
                         capture_output=True, text=True, check=True).stdout
    assert "Non-2xx" not in out and "Socket errors" not in out, out
    line = next(l for l in out.splitlines() if l.startswith("Requests/sec:"))
    return float(line.split()[1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for program in (NGINX, CNF_SERVER, shutil.which("curl") or "curl"):
        if not os.path.exists(program):
            sys.exit(f"{program} is missing (cargo build --release --example cnf-server; sudo bash peers/install.sh)")
    work = tempfile.mkdtemp(prefix="cnfkit-http-bench-")
    # nginx's workers run as an unprivileged user when started as root: the tree is theirs to read.
    os.chmod(work, 0o755)
    root = os.path.join(work, "tree")
    os.makedirs(root, mode=0o755)
    md5 = make_tree(root)
    sizes = [os.path.getsize(os.path.join(root, f"SEP0000000{i:05X}.cnf.xml")) for i in range(CONFIGS)]
    servers = {}
    try:
        servers["nginx"] = start_nginx(root, work)
        servers["cnf-server"] = start_cnf_server(root)
        with_wrk = shutil.which("wrk") is not None
        workloads = ["firmware", "firmware-discard", "configs"] + (["wrk"] if with_wrk else [])
        results = {name: {w: [] for w in workloads} for name in servers}
        for name, (port, _) in servers.items():
            firmware_run(port, work, md5)  # warm-up, and the bytes checked
            configs_run(port, work, sizes)
        for run in range(args.runs):
            for name, (port, _) in servers.items():
                results[name]["firmware"].append(firmware_run(port, work))
                results[name]["firmware-discard"].append(firmware_discard_run(port))
                results[name]["configs"].append(configs_run(port, work, sizes))
                if with_wrk:
                    results[name]["wrk"].append(wrk_run(port))
        print(f"loopback, {args.runs} interleaved runs, medians")
        print(f"{'server':<12} {'firmware MB/s':>14} {'discarding MB/s':>16} {'configs req/s':>14} {'wrk req/s':>10}")
        for name, r in results.items():
            w = f"{statistics.median(r['wrk']):>10.0f}" if with_wrk else f"{'-':>10}"
            print(f"{name:<12} {statistics.median(r['firmware']):>14.0f} {statistics.median(r['firmware-discard']):>16.0f} {statistics.median(r['configs']):>14.0f} {w}")
        ours, theirs = results["cnf-server"], results["nginx"]
        for what in workloads:
            ratio = statistics.median(ours[what]) / statistics.median(theirs[what])
            spread = ", ".join(f"{a / b:.2f}" for a, b in zip(ours[what], theirs[what]))
            print(f"cnf-server / nginx, {what}: {ratio:.2f}x (per run: {spread})")
    finally:
        for _, proc in servers.values():
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
