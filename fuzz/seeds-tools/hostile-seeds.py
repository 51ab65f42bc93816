#!/usr/bin/env python3
"""Writes the hostile seeds of docs/tftp.md (hostile input) and server-side packets into the corpus.

Usage: hostile-seeds.py FUZZ_DIR   (writes into FUZZ_DIR/corpus/{packet,options,netascii})
"""
import os, sys

fuzz = sys.argv[1]

def rrq(name, mode=b"octet", *opts):
    body = b"\x00\x01" + name + b"\x00" + mode + b"\x00"
    for n, v in opts:
        body += n + b"\x00" + v + b"\x00"
    return body

packet = {
    "error-2-bytes": b"\x00\x05",
    "error-3-bytes": b"\x00\x05\x00",
    "error-4-bytes": b"\x00\x05\x00\x01",
    "error-file-not-found": b"\x00\x05\x00\x01File not found\x00",
    "error-8-tsize-probe": b"\x00\x05\x00\x08\x00",
    "blksize-8-with-others": rrq(b"f", b"octet", (b"blksize", b"8"), (b"tsize", b"0"), (b"timeout", b"1")),
    "blksize-7": rrq(b"f", b"octet", (b"blksize", b"7")),
    "blksize-70000": rrq(b"f", b"octet", (b"blksize", b"70000")),
    "timeout-0": rrq(b"f", b"octet", (b"timeout", b"0")),
    "timeout-256": rrq(b"f", b"octet", (b"timeout", b"256")),
    "windowsize-0": rrq(b"f", b"octet", (b"windowsize", b"0")),
    "windowsize-65536": rrq(b"f", b"octet", (b"windowsize", b"65536")),
    "duplicate-options": rrq(b"f", b"octet", (b"blksize", b"1468"), (b"BLKSIZE", b"512"), (b"tsize", b"0"), (b"tsize", b"1")),
    "rrq-without-final-nul": rrq(b"f", b"octet", (b"blksize", b"512"))[:-1],
    "empty-filename": rrq(b""),
    "mode-mail": rrq(b"f", b"mail"),
    "mode-mixed-case": rrq(b"f", b"NetAscii"),
    "over-long-request": rrq(b"a" * 600),
    "traversal": rrq(b"../../etc/passwd"),
    "backslash-traversal": rrq(b"..\\..\\windows\\win.ini"),
    "nul-padding": rrq(b"f") + b"\x00\x00",
    "oack-unrequested": b"\x00\x06foo_blksize_bar\x001468\x00",
    "oack-blksize-window": b"\x00\x06blksize\x001468\x00windowsize\x0016\x00tsize\x0014336\x00",
    "oack-empty": b"\x00\x06",
    "data-512": b"\x00\x03\x00\x01" + bytes(range(256)) * 2,
    "data-empty": b"\x00\x03\xff\xff",
    "ack-0": b"\x00\x04\x00\x00",
    "ack-long": b"\x00\x04\x00\x00\x00",
    "opcode-0": b"\x00\x00\x00\x00",
    "opcode-7": b"\x00\x07\x00\x00",
}
options = {
    "curl": b"tsize\x000\x00blksize\x00512\x00timeout\x006\x00",
    "atftp": b"tsize\x000\x00blksize\x001468\x00windowsize\x008\x00",
    "hostile-values": b"blksize\x007\x00timeout\x00256\x00tsize\x00enable\x00windowsize\x0065536\x00rollover\x002\x00",
    "duplicates": b"BlkSize\x00512\x00blksize\x001468\x00x\x001\x00X\x002\x00",
    "huge-number": b"tsize\x0099999999999999999999999999\x00",
    "odd-field": b"blksize\x00512\x00timeout",
}
netascii = {
    "mixed": b"\x05line1\nline2\r\nbare\rcr\nend",
    "cr-at-end": b"\x01abc\r",
    "crcr": b"\x07\r\r\n\n\r\x00\r",
    "sip-cnf": b"\x03image_version: P0S3-08-12-00\r\nproxy1_address: \"10.0.0.1\"\r\n# comment\n",
}
for folder, seeds in (("packet", packet), ("options", options), ("netascii", netascii)):
    path = os.path.join(fuzz, "corpus", folder)
    os.makedirs(path, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(path, name + ".bin"), "wb") as f:
            f.write(data)
print("seeds written")
