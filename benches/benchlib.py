"""What the benchmark scripts in this folder share: free loopback ports, phone-sim's MACs, the
CPU time of a server process, and starting a server under test (cnf-server and its variants, or a
peer through peers/serve.sh). Imported by the scripts (this folder is on their path)."""
import os, shutil, socket, statistics, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SERVE = os.path.join(REPO, "peers", "serve.sh")
BIN = os.path.join(REPO, "target", "release", "examples")
CNF_SERVER = os.path.join(BIN, "cnf-server")
PHONE_SIM = os.path.join(BIN, "phone-sim")
# dnsmasq's TFTP port is always 69: it gets a loopback address of its own.
DNSMASQ_ADDR = "127.0.0.77"
# Our own server's variants (the rest are peers, served by peers/serve.sh).
# `cnf-server` runs the default (every transfer from the listening port, a loop per core);
# `one-loop` limits it to one loop, `port-per-transfer` answers from a port per transfer, and
# `busy-poll` adds `--busy-poll-us 50`. `baseline*` run the `--baseline` build (whose
# `--single-port` was a mode of its own before it became the default).
OURS = ("cnf-server", "single-port", "one-loop", "port-per-transfer", "busy-poll", "baseline",
        "baseline-single-port", "registry", "registry-single-port", "s3")

TICK = os.sysconf("SC_CLK_TCK")


def free_port(kind=socket.SOCK_DGRAM):
    """A port nothing on 127.0.0.1 uses now (UDP by default)."""
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def mac(i):
    """The MAC of phone-sim's phone number `i` (00:11:22:33:00:00 upwards)."""
    b = i.to_bytes(4, "big")
    return "001122%02X%02X%02X" % (0x33 ^ b[1], b[2], b[3])


def cpu_split(pid):
    """(user, system) CPU seconds of process `pid` and its waited-for children."""
    with open("/proc/%d/stat" % pid) as f:
        utime, stime, cutime, cstime = (int(x) for x in f.read().rsplit(")", 1)[1].split()[11:15])
    return (utime + cutime) / TICK, (stime + cstime) / TICK


def cpu_seconds(pid):
    """User and system CPU of process `pid` and its waited-for children, in seconds."""
    return sum(cpu_split(pid))


class CpuGroup:
    """A control group of its own for one server, so that its CPU counts every process it forks,
    reaped or not (tftpd-hpa forks a child per transfer, and a child the kernel reaps for a
    parent that ignores SIGCHLD never shows in the parent's times). cgroup v1 `cpuacct` or v2
    `cpu.stat`; `None` where neither can be made (not root, no cgroup file system)."""

    @staticmethod
    def join(pid, name):
        for base, usage, scale in (("/sys/fs/cgroup/cpuacct", "cpuacct.usage", 1e-9),
                                   ("/sys/fs/cgroup", "cpu.stat", 1e-6)):
            if not os.path.exists(os.path.join(base, usage)):
                continue
            path = os.path.join(base, "cnfkit-bench-%d-%s" % (os.getpid(), name))
            try:
                os.mkdir(path)
                with open(os.path.join(path, "cgroup.procs"), "w") as f:
                    f.write(str(pid))
            except OSError:
                try:
                    os.rmdir(path)
                except OSError:
                    pass
                continue
            group = CpuGroup()
            group.path, group.usage, group.scale = path, os.path.join(path, usage), scale
            return group
        return None

    def seconds(self):
        with open(self.usage) as f:
            text = f.read()
        if self.usage.endswith("cpu.stat"):
            text = next(l.split()[1] for l in text.splitlines() if l.startswith("usage_usec"))
        return int(text) * self.scale

    def split(self):
        """(user, system) CPU seconds of the group: `cpuacct.stat` (in clock ticks) or the
        `user_usec` and `system_usec` lines of `cpu.stat`."""
        if self.usage.endswith("cpu.stat"):
            with open(self.usage) as f:
                fields = dict(l.split() for l in f if l.strip())
            return int(fields["user_usec"]) / 1e6, int(fields["system_usec"]) / 1e6
        with open(os.path.join(self.path, "cpuacct.stat")) as f:
            fields = dict(l.split() for l in f if l.strip())
        return int(fields["user"]) / TICK, int(fields["system"]) / TICK

    def remove(self):
        """Once every process in it has ended."""
        for _ in range(50):
            try:
                os.rmdir(self.path)
                return
            except OSError:
                time.sleep(0.1)


class Server:
    def __init__(self, name, root, baseline=None):
        self.name = name
        if name in OURS:
            self.port = free_port()
            self.addr = "127.0.0.1:%d" % self.port
            binary = baseline if name.startswith("baseline") else CNF_SERVER
            extra = {"single-port": ["--single-port"], "baseline-single-port": ["--single-port"],
                     "one-loop": ["--tftp-threads", "1"],
                     "port-per-transfer": ["--port-per-transfer"],
                     "busy-poll": ["--busy-poll-us", "50"],
                     "registry": ["--admin", "127.0.0.1:%d" % free_port(socket.SOCK_STREAM)],
                     "registry-single-port": ["--single-port", "--admin",
                                              "127.0.0.1:%d" % free_port(socket.SOCK_STREAM)]}.get(name, [])
            self.store = None
            tree = ["--root", root]
            env = dict(os.environ)
            if name == "s3":
                tree, store_env = self.start_store(root)
                env.update(store_env)
            self.proc = subprocess.Popen([binary] + tree + ["--bind", self.addr] + extra,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
            self.pid = self.proc.pid
            wait_until_it_answers(self.port)
        else:
            where = DNSMASQ_ADDR if name == "dnsmasq" else str(free_port())
            out = subprocess.run(["bash", SERVE, name, root, where], capture_output=True, text=True)
            if out.returncode != 0:
                raise RuntimeError(out.stderr.strip())
            self.pid = int(out.stdout.strip())
            self.proc = None
            self.addr = DNSMASQ_ADDR + ":69" if name == "dnsmasq" else "127.0.0.1:" + where
        self.group = CpuGroup.join(self.pid, name)

    def start_store(self, root):
        """s3s-fs serving a copy of the tree as bucket `storm`; the cnf-server arguments and
        environment that serve it."""
        self.store_dir = tempfile.mkdtemp(prefix="cnfkit-storm-s3-")
        shutil.copytree(root, os.path.join(self.store_dir, "storm", "tree"))
        port = free_port(socket.SOCK_STREAM)
        self.store = subprocess.Popen(["s3s-fs", "--host", "127.0.0.1", "--port", str(port),
                                       "--access-key", "storm", "--secret-key", "storm-secret", self.store_dir],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError("s3s-fs did not listen")
                time.sleep(0.05)
        env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:%d" % port, "AWS_ACCESS_KEY_ID": "storm",
               "AWS_SECRET_ACCESS_KEY": "storm-secret", "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true"}
        return ["--source", "s3://storm/tree/", "--cache-dir", os.path.join(self.store_dir, "cache")], env

    def cpu_seconds(self):
        """User and system CPU of the server and everything it forked."""
        return self.group.seconds() if self.group else cpu_seconds(self.pid)

    def cpu_split(self):
        """The same CPU as `cpu_seconds`, as (user, system) seconds."""
        return self.group.split() if self.group else cpu_split(self.pid)

    def reset_peak(self):
        try:
            with open("/proc/%d/clear_refs" % self.pid, "w") as f:
                f.write("5")
        except OSError:
            pass

    def peak_rss_mib(self):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self):
        try:
            os.kill(self.pid, 15)
        except ProcessLookupError:
            pass
        if self.proc:
            self.proc.wait(timeout=15)
        if getattr(self, "store", None):
            self.store.terminate()
            self.store.wait(timeout=15)
            shutil.rmtree(self.store_dir, ignore_errors=True)
        if self.group:
            # The peers are not our children: wait for them to be gone.
            self.group.remove()


def wait_until_it_answers(port, limit=120):
    """Asks for a missing file until the server answers (it lists and fetches a store first)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.settimeout(0.2)
    deadline = time.time() + limit
    try:
        while time.time() < deadline:
            probe.sendto(b"\x00\x01nothing-here\x00octet\x00", ("127.0.0.1", port))
            try:
                probe.recvfrom(1024)
                return
            except socket.timeout:
                pass
        raise RuntimeError("the server on port %d did not answer in %d s" % (port, limit))
    finally:
        probe.close()


def start_servers(wanted, root, baseline=None):
    """Starts each server named in `wanted` on `root`; one that cannot start is skipped with a
    message (dnsmasq needs root for its port 69)."""
    servers = {}
    for name in wanted:
        if name == "dnsmasq" and os.geteuid() != 0:
            print("dnsmasq skipped: needs root for port 69", file=sys.stderr)
            continue
        try:
            servers[name] = Server(name, root, baseline)
        except (RuntimeError, OSError) as e:
            print("%s skipped: %s" % (name, e), file=sys.stderr)
    return servers


def med(values):
    """The median, or NaN for no values (a cell where every run failed)."""
    return statistics.median(values) if values else float("nan")


def machine():
    """The processor, the CPU count and today's date, for the head of a report."""
    with open("/proc/cpuinfo") as f:
        cpu = f.read()
    model = next((l.split(":", 1)[1].strip() for l in cpu.splitlines() if l.startswith("model name")), "?")
    return "%s, %d CPUs; %s" % (model, os.cpu_count(), time.strftime("%Y-%m-%d"))
