#!/usr/bin/env python3
"""A tiny DNS server for the scale test: answers every A query with the IPv4 addresses listed
(one a line) in a file it rereads on each query, TTL 0; any other query gets an empty NOERROR
answer. Listens on UDP 127.0.0.1:0 and writes "127.0.0.1:PORT" to the ready file.

    dns_stub.py ADDRESSES_FILE READY_FILE
"""
import os
import socket
import struct
import sys


def addresses(path):
    try:
        with open(path) as f:
            return [line.strip() for line in f if line.strip()]
    except OSError:
        return []


def answer(query, path):
    if len(query) < 12:
        return None
    ident, flags, qdcount = struct.unpack("!HHH", query[:6])
    if qdcount != 1:
        return None
    pos = 12
    while pos < len(query) and query[pos] != 0:  # QNAME labels
        pos += 1 + query[pos]
    pos += 1
    if pos + 4 > len(query):
        return None
    qtype, qclass = struct.unpack("!HH", query[pos:pos + 4])
    question = query[12:pos + 4]
    records = b""
    count = 0
    if qtype == 1 and qclass == 1:
        for ip in addresses(path):
            records += struct.pack("!HHHIH", 0xC00C, 1, 1, 0, 4) + socket.inet_aton(ip)
            count += 1
    out_flags = 0x8180 | (flags & 0x0100)  # response, recursion available, RD copied
    return struct.pack("!HHHHHH", ident, out_flags, 1, count, 0, 0) + question + records


def main():
    path, ready = sys.argv[1], sys.argv[2]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    tmp = ready + ".tmp"
    with open(tmp, "w") as f:
        f.write("127.0.0.1:%d\n" % sock.getsockname()[1])
    os.rename(tmp, ready)
    while True:
        query, peer = sock.recvfrom(4096)
        reply = answer(query, path)
        if reply is not None:
            sock.sendto(reply, peer)


if __name__ == "__main__":
    main()
