#!/usr/bin/env python3
"""Captures the raw bytes the real servers of setup.sh send to harmless
probes, into internal/probe/testdata/real/, so the protocol parsers can be
table-tested on what real servers say without running them.

Usage (servers up): bench/probe/capture.py [outdir]

Each file holds exactly the bytes read back (requests are not stored);
what was sent is documented below per file. Nothing here logs in, writes
or changes a server's state.
"""

import os
import socket
import struct
import sys
import time

HOST = "127.0.0.1"


def ports():
    here = os.path.dirname(os.path.abspath(__file__))
    out = {}
    with open(os.path.join(here, "targets.tsv")) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                name, transport, port = line.split()[:3]
                out[(name, transport)] = int(port)
    return out


def read_all(s, quiet=0.5, limit=65536):
    """Reads until the peer is quiet for `quiet` seconds or closes."""
    data = b""
    s.settimeout(quiet)
    while len(data) < limit:
        try:
            chunk = s.recv(limit - len(data))
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
    return data


def tcp(port, *sends, quiet=0.5):
    """Connects, reads the greeting, then for each send writes it and reads
    the answer; returns all bytes read, in order."""
    with socket.create_connection((HOST, port), timeout=3) as s:
        data = read_all(s, quiet)
        for b in sends:
            s.sendall(b)
            data += read_all(s, quiet)
        return data


def udp(port, payload):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        s.sendto(payload, (HOST, port))
        return s.recvfrom(65536)[0]


def dns_version_bind():
    # id 0x5057, RD off, one question: version.bind TXT CH.
    q = struct.pack(">HHHHHH", 0x5057, 0, 1, 0, 0, 0)
    q += b"\x07version\x04bind\x00" + struct.pack(">HH", 16, 3)
    return q


def snmp_get_sysdescr():
    # SNMPv2c GetRequest, community "public", request-id 0x5057,
    # varbind 1.3.6.1.2.1.1.1.0 (sysDescr.0) = NULL.
    oid = b"\x06\x08\x2b\x06\x01\x02\x01\x01\x01\x00"
    varbind = b"\x30" + bytes([len(oid) + 2]) + oid + b"\x05\x00"
    varbinds = b"\x30" + bytes([len(varbind)]) + varbind
    pdu_body = b"\x02\x02\x50\x57" + b"\x02\x01\x00" + b"\x02\x01\x00" + varbinds
    pdu = b"\xa0" + bytes([len(pdu_body)]) + pdu_body
    msg_body = b"\x02\x01\x01" + b"\x04\x06public" + pdu
    return b"\x30" + bytes([len(msg_body)]) + msg_body


def mqtt_connect():
    # MQTT 3.1.1 CONNECT, clean session, keepalive 10, client id "portwho".
    var = b"\x00\x04MQTT\x04\x02\x00\x0a" + b"\x00\x07portwho"
    return b"\x10" + bytes([len(var)]) + var


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "internal", "probe", "testdata", "real")
    os.makedirs(out, exist_ok=True)
    p = ports()
    captures = {
        # Only what comes unprompted: the version line (OpenSSH sends its
        # KEXINIT only after the client's version line).
        "ssh-openssh-9.2p1.bin": lambda: tcp(p[("ssh", "tcp")]),
        "smtp-postfix-3.7-ehlo.bin": lambda: tcp(p[("postfix", "tcp")], b"EHLO portwho.test\r\n", b"QUIT\r\n"),
        "imap-dovecot-2.3-capability.bin": lambda: tcp(p[("dovecot-imap", "tcp")], b"a1 CAPABILITY\r\n", b"a2 LOGOUT\r\n"),
        "pop3-dovecot-2.3-capa.bin": lambda: tcp(p[("dovecot-pop3", "tcp")], b"CAPA\r\n", b"QUIT\r\n"),
        "ftp-vsftpd-3.0.3-feat.bin": lambda: tcp(p[("vsftpd", "tcp")], b"FEAT\r\n", b"QUIT\r\n"),
        "http-nginx-1.22.1-get.bin": lambda: tcp(p[("nginx-http", "tcp")],
                                                 b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\nUser-Agent: portwho\r\n\r\n"),
        "mysql-mariadb-10.11-greeting.bin": lambda: tcp(p[("mariadb", "tcp")]),
        # SSLRequest (8 bytes: length 8, code 80877103): the answer is one byte.
        "postgresql-15-sslrequest.bin": lambda: tcp(p[("postgresql", "tcp")], struct.pack(">II", 8, 80877103)),
        # A startup message with protocol 3.0 and no user: an ErrorResponse.
        "postgresql-15-startup-nouser.bin": lambda: tcp(p[("postgresql", "tcp")], struct.pack(">II", 9, 196608) + b"\x00"),
        "redis-7.0.15-info-server.bin": lambda: tcp(p[("redis", "tcp")], b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n"),
        "memcached-1.6.18-version.bin": lambda: tcp(p[("memcached", "tcp")], b"version\r\n"),
        "mqtt-mosquitto-2.0.11-connack.bin": lambda: tcp(p[("mosquitto", "tcp")], mqtt_connect(), b"\xe0\x00"),
        "dns-dnsmasq-2.90-version-bind-udp.bin": lambda: udp(p[("dnsmasq", "udp")], dns_version_bind()),
        "snmp-net-snmp-5.9.3-sysdescr.bin": lambda: udp(p[("snmpd", "udp")], snmp_get_sysdescr()),
        # memcached's UDP frame header (request id 0x5057, seq 0, 1 datagram).
        "memcached-1.6.18-udp-version.bin": lambda: udp(p[("memcached", "udp")],
                                                        b"\x50\x57\x00\x00\x00\x01\x00\x00version\r\n"),
    }
    failed = 0
    for name, fn in captures.items():
        try:
            data = fn()
        except OSError as e:
            print(f"{name}: {e}", file=sys.stderr)
            failed += 1
            continue
        if not data:
            print(f"{name}: no reply", file=sys.stderr)
            failed += 1
            continue
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        print(f"{name}: {len(data)} bytes")
        time.sleep(0.05)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
