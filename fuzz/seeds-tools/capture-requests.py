#!/usr/bin/env python3
"""Captures the first datagram (RRQ or WRQ) that real TFTP clients send, as fuzz seeds.

Usage: capture-requests.py OUT_DIR
Listens on 127.0.0.1:<ephemeral>, runs each client once against it (the client then times out,
bounded by `timeout`), and writes each request to OUT_DIR/<client>-<case>.bin.
"""
import os, socket, subprocess, sys, threading

out_dir = sys.argv[1]
os.makedirs(out_dir, exist_ok=True)
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", 0))
port = sock.getsockname()[1]
sock.settimeout(3)
host = "127.0.0.1"
url = f"tftp://{host}:{port}"
upload = "/tmp/capture-upload.bin"
open(upload, "wb").write(b"x" * 100)

cases = {
    "curl-default": ["curl", "-sS", "--max-time", "1", "-o", "/dev/null", f"{url}/XMLDefault.cnf.xml"],
    "curl-blksize1468": ["curl", "-sS", "--max-time", "1", "--tftp-blksize", "1468", "-o", "/dev/null", f"{url}/SEP001122334455.cnf.xml"],
    "curl-no-options": ["curl", "-sS", "--max-time", "1", "--tftp-no-options", "-o", "/dev/null", f"{url}/CTLSEP001122334455.tlv"],
    "curl-netascii": ["curl", "-sS", "--max-time", "1", "-B", "-o", "/dev/null", f"{url}/SIPDefault.cnf"],
    "curl-upload": ["curl", "-sS", "--max-time", "1", "-T", upload, f"{url}/up.bin"],
    "tftp-hpa-binary": ["tftp", "-m", "binary", host, str(port), "-c", "get", "term42.default.loads", "/dev/null"],
    "tftp-hpa-default-netascii": ["tftp", host, str(port), "-c", "get", "OS79XX.TXT", "/dev/null"],
    "atftp-blksize-window-tsize": ["atftp", "--option", "blksize 1468", "--option", "windowsize 8", "--option", "tsize 0", "-g", "-r", "SCCP42.9-4-2SR3-1S.loads", "-l", "/dev/null", host, str(port)],
    "atftp-tsize-enable": ["atftp", "--option", "tsize enable", "-g", "-r", "ITLFile.tlv", "-l", "/dev/null", host, str(port)],
    "atftp-upload": ["atftp", "-p", "-l", upload, "-r", "up.bin", host, str(port)],
    "busybox-blksize1468": ["busybox", "tftp", "-b", "1468", "-g", "-r", "SEP001122334455.cnf.xml.sgn", "-l", "/dev/null", host, str(port)],
    "busybox-upload": ["busybox", "tftp", "-p", "-l", upload, "-r", "up.bin", host, str(port)],
    "tftpy-blksize-tsize": ["python3", "-c", f"import logging,tftpy; logging.disable(logging.CRITICAL); tftpy.TftpClient('{host}', {port}, options={{'blksize': 1468, 'tsize': 0}}).download('XMLDefault.cnf.xml', '/dev/null', timeout=1)"],
}

for name, argv in cases.items():
    got = {}
    def listen():
        try:
            got["data"], _ = sock.recvfrom(65535)
        except socket.timeout:
            pass
    t = threading.Thread(target=listen)
    t.start()
    try:
        subprocess.run(["timeout", "3"] + argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except FileNotFoundError:
        print(f"skip {name}: {argv[0]} not installed")
    t.join()
    if "data" in got:
        open(os.path.join(out_dir, f"{name}.bin"), "wb").write(got["data"])
        print(f"{name}: {got['data']!r}")
    else:
        print(f"{name}: nothing received")
    # Drain retransmissions of the same request before the next client.
    sock.settimeout(0.2)
    try:
        while True:
            sock.recvfrom(65535)
    except socket.timeout:
        pass
    sock.settimeout(3)
