#!/usr/bin/env python3
"""cnfkit-repack's crypto next to `openssl speed`, in one run on one machine, as ratios.

Runs `cargo bench --bench repack` (criterion), then `openssl speed` for the same primitives
(AES-128-CBC and AES-256-CBC encrypt and decrypt, MD5 on 16 KiB buffers, RSA-2048 and RSA-4096 sign), reads
criterion's medians from target/criterion, and prints one table:

    python3 benches/crypto-vs-openssl.py [--seconds 3] [--skip-cargo]

Goals: >= 0.9x openssl for AES and MD5, >= 0.5x for RSA signing; a full repack of a 16 KiB config
under 1 ms. The benchmark runs with the default features (signing by OpenSSL through the
`openssl` feature); `cargo bench --bench repack --no-default-features --features repack` measures
the pure-Rust `rsa` crate.
MB/s here are 10^6 bytes per second, the unit `openssl speed` prints (as "k" = 1000 bytes).
"""
import argparse, json, os, re, shutil, subprocess, sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
MIB = 1 << 20


def median_ns(group, bench):
    path = os.path.join(TARGET, "criterion", group, bench, "new", "estimates.json")
    try:
        with open(path) as f:
            return json.load(f)["median"]["point_estimate"]
    except (OSError, KeyError, ValueError):
        return None


def openssl_mb_s(algorithm, seconds, decrypt=False):
    """MB/s (10^6 B/s) for 16 KiB buffers."""
    argv = ["openssl", "speed", "-seconds", str(seconds), "-bytes", "16384"]
    if decrypt:
        argv.append("-decrypt")
    argv += ["-evp", algorithm] if algorithm != "md5" else ["md5"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.lower().startswith(algorithm.lower()) or line.lower().startswith(algorithm.upper().lower()):
            value = line.split()[-1]
            return float(value.rstrip("k")) / 1000.0
    sys.exit(f"cannot read openssl speed output for {algorithm}:\n{out}")


def openssl_rsa_sign_ms(seconds, bits):
    out = subprocess.run(["openssl", "speed", "-seconds", str(seconds), f"rsa{bits}"],
                         capture_output=True, text=True, check=True).stdout
    m = re.search(rf"rsa {bits} bits\s+([0-9.]+)s\s+([0-9.]+)s", out)
    if not m:
        sys.exit(f"cannot read openssl rsa{bits} output:\n{out}")
    return float(m.group(1)) * 1000.0, float(m.group(2)) * 1000.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=3, help="seconds per openssl speed test")
    ap.add_argument("--skip-cargo", action="store_true", help="reuse the last criterion results")
    args = ap.parse_args()
    if not shutil.which("openssl"):
        sys.exit("openssl not installed (sudo bash peers/install.sh)")
    if not args.skip_cargo:
        subprocess.run(["cargo", "bench", "--bench", "repack", "--", "--noplot"], cwd=REPO, check=True,
                       stdout=subprocess.DEVNULL)
    rows = []
    for ours_id, algorithm, decrypt, label in [
        ("aes128cbc_encrypt", "aes-128-cbc", False, "AES-128-CBC encrypt"),
        ("aes128cbc_decrypt", "aes-128-cbc", True, "AES-128-CBC decrypt"),
        ("aes256cbc_encrypt", "aes-256-cbc", False, "AES-256-CBC encrypt"),
        ("aes256cbc_decrypt", "aes-256-cbc", True, "AES-256-CBC decrypt"),
        ("md5", "md5", False, "MD5"),
    ]:
        ns = median_ns("cipher", ours_id)
        ours = MIB / ns * 1e3 if ns else None
        theirs = openssl_mb_s(algorithm, args.seconds, decrypt)
        rows.append((label, ours, theirs))
    signs = [(f"RSA-{bits} sign ({digest}, 16 KiB)", median_ns(f"rsa{bits}", bench),
              openssl_rsa_sign_ms(args.seconds, bits)[0])
             for bits, digest, bench in [(2048, "SHA-1", "sign_sha1_16KiB"), (4096, "SHA-1", "sign_sha1_16KiB"),
                                         (4096, "SHA-512", "sign_sha512_16KiB")]]
    print(f"\ncnfkit-repack vs openssl speed ({subprocess.run(['openssl', 'version'], capture_output=True, text=True).stdout.strip()})")
    print("| operation | cnfkit-repack | openssl | ratio | goal |")
    print("|---|---:|---:|---:|---|")
    for label, ours, theirs in rows:
        if ours is None:
            print(f"| {label} | (not measured) | {theirs:.0f} MB/s | | >= 0.9x |")
            continue
        ratio = ours / theirs
        print(f"| {label} | {ours:.0f} MB/s | {theirs:.0f} MB/s | {ratio:.2f}x | >= 0.9x {'met' if ratio >= 0.9 else 'NOT met'} |")
    for label, ours, sign_ms in signs:
        if ours:
            ratio = sign_ms / (ours / 1e6)
            print(f"| {label} | {ours / 1e6:.3f} ms | {sign_ms:.3f} ms | {ratio:.2f}x | >= 0.5x {'met' if ratio >= 0.5 else 'NOT met'} |")
    for bench, label in [("sgn_16KiB", "repack .sgn 16 KiB (verify, edit, sign, MD5)"),
                         ("enc_sgn_16KiB", "repack .enc.sgn 16 KiB (verify, unwrap, decrypt, edit, encrypt, sign, MD5)")]:
        ns = median_ns("repack", bench)
        if ns:
            ms = ns / 1e6
            print(f"| {label} | {ms:.3f} ms | | | < 1 ms {'met' if ms < 1 else 'NOT met'} |")
    api = [(b, median_ns("api", b)) for b in ["enc_sgn_reencrypt_sha1", "enc_sgn_decrypt_sha1", "profile_encrypt", "profile_decrypt"]]
    print("\nthrough the crate's API (copies, padding, SHA-1 plaintext digest or plaintext check included):")
    for b, ns in api:
        if ns:
            print(f"  {b:<24} {MIB / ns * 1e3:8.0f} MB/s")


if __name__ == "__main__":
    main()
