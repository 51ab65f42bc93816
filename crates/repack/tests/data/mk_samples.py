#!/usr/bin/env python3
"""Build synthetic Cisco .sgn / ITLFile.tlv / .cnf.xml.enc.sgn samples from
the layout in docs/file-formats.md of the cnfkit repository (written from the spec, not copied
from certutils). Throwaway keys generated
here (test-only, deterministic timestamp). Then verify them with a separate parser + openssl CLI."""
import struct, hashlib, os, datetime
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

TS = 1767225600  # 2026-01-01T00:00:00Z, fixed for reproducibility
def tlv(tag, val): return struct.pack(">BH", tag, len(val)) + val
def mkcert(cn, key):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "TEST"),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "TEST")])
    now = datetime.datetime(2026, 1, 1)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(0x1234567890ABCDEF).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
            .sign(key, hashes.SHA256()))
def dn(name):  # certutils-style: RFC4514 attrs in cert order joined by ','
    return ",".join(a.rfc4514_string() for a in name).encode() + b"\0"
def serial_bytes(c): n = c.serial_number; return n.to_bytes((n.bit_length() + 7) // 8, "big")
HASH = {1: hashes.SHA1(), 3: hashes.SHA512()}
def signed(version, cert, key, hash_code, filename, extra_hdr=b"", payload=b"", records=b"", signer_version=None):
    modlen = key.key_size // 8
    head = tlv(1, bytes(version)) + struct.pack(">BHH", 2, 2, 0)
    if signer_version: head += tlv(28, bytes(signer_version))
    si = tlv(4, dn(cert.subject)) + tlv(6, dn(cert.issuer)) + tlv(5, serial_bytes(cert))
    head += tlv(3, si)
    head += tlv(7, tlv(8, bytes([hash_code])) + tlv(9, tlv(10, b"\0") + tlv(11, bytes([[64, 128, 256, 512].index(modlen)]))))
    sig_off = len(head)
    head += tlv(14, filename.encode() + b"\0") + tlv(15, struct.pack(">I", TS)) + extra_hdr
    while (len(head) + 3 + modlen) % 4: head += b"\x0d"
    hlen = len(head) + 3 + modlen
    head = head[:8] + struct.pack(">H", hlen) + head[10:]  # VERSION TLV = 5 bytes, then 02 0002 <u16>
    body = head + records + payload
    sig = key.sign(body, padding.PKCS1v15(), HASH[hash_code])
    return body[:sig_off] + tlv(12, sig) + body[sig_off:]

tftp_key = rsa.generate_private_key(65537, 2048); tftp_cert = mkcert("TEST-TFTP", tftp_key)
sast_key = rsa.generate_private_key(65537, 2048); sast_cert = mkcert("TEST-SAST", sast_key)
phone_key = rsa.generate_private_key(65537, 2048); phone_cert = mkcert("SEP001122334455", phone_key)
for n, k, c in (("tftp", tftp_key, tftp_cert), ("sast", sast_key, sast_cert), ("phone", phone_key, phone_cert)):
    open(f"test-{n}.pem", "wb").write(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption()) + c.public_bytes(serialization.Encoding.PEM))
    open(f"test-{n}.pubkey.pem", "wb").write(k.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))

xml = b'<?xml version="1.0" encoding="UTF-8"?>\n<device><fullConfig>true</fullConfig><deviceProtocol>SIP</deviceProtocol></device>\n'
open("SEP001122334455.cnf.xml", "wb").write(xml)
# 1) plain .sgn, SHA1 and SHA512
open("SEP001122334455.cnf.xml.sgn", "wb").write(signed((1, 0), tftp_cert, tftp_key, 1, "SEP001122334455.cnf.xml.sgn", payload=xml))
open("SEP001122334455.cnf.xml.sha512.sgn", "wb").write(signed((1, 0), tftp_cert, tftp_key, 3, "SEP001122334455.cnf.xml.sgn", payload=xml))
# 2) ITLFile.tlv with SAST + TFTP(CCM+TFTP) records
def record(cert, role):
    pk = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    inner = (tlv(3, dn(cert.subject)) + tlv(5, dn(cert.issuer)) + tlv(6, serial_bytes(cert)) + tlv(4, struct.pack(">H", role))
             + tlv(7, pk) + tlv(8, cert.signature) + tlv(9, cert.public_bytes(serialization.Encoding.DER)))
    return struct.pack(">BHH", 1, 2, 5 + len(inner)) + inner
recs = record(sast_cert, 0) + record(tftp_cert, 2)
open("ITLFile.tlv", "wb").write(signed((1, 2), sast_cert, sast_key, 1, "ITLFile.tlv", records=recs, signer_version=(1, 0)))
# 3) .enc.sgn (AES-128-CBC, '\r' padding, key wrapped RSA-PKCS1v1.5 to phone cert) -- fixed key/iv for reproducibility
aes_key = bytes.fromhex("000102030405060708090a0b0c0d0e0f"); iv = bytes.fromhex("f0e0d0c0b0a090807060504030201000")
pad = 16 - len(xml) % 16
e = Cipher(algorithms.AES(aes_key), modes.CBC(iv)).encryptor(); ct = e.update(xml + b"\r" * pad) + e.finalize()
wrapped = phone_cert.public_key().encrypt(aes_key, padding.PKCS1v15())
encinfo = tlv(16, tlv(17, tlv(18, b"\0") + tlv(19, iv) + tlv(20, struct.pack(">H", pad)))
                  + tlv(21, tlv(22, b"\0") + tlv(23, struct.pack(">H", len(wrapped) * 8)) + tlv(24, b"\x01") + tlv(25, wrapped)))
encinfo += tlv(26, b"\x01") + tlv(27, hashlib.sha1(xml).digest())
open("SEP001122334455.cnf.xml.enc.sgn", "wb").write(signed((2, 0), tftp_cert, tftp_key, 1, "SEP001122334455.cnf.xml.enc.sgn", extra_hdr=encinfo, payload=ct))
print("aes_key", aes_key.hex(), "iv", iv.hex(), "pad", pad, "ct", ct.hex())
