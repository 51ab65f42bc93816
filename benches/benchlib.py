"""What the benchmark scripts in this folder share: free loopback ports, phone-sim's MACs, the
CPU time of a server process. Imported by the scripts (this folder is on their path)."""
import os, socket

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


def cpu_seconds(pid):
    """User and system CPU of process `pid` and its waited-for children, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / TICK
