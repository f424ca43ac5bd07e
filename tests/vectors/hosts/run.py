#!/usr/bin/env python3
"""Host conformance vectors (tests/vectors/hosts/SPEC.md): one scripted worker behind a real
dispatcher behind each host — smtpbridge-proxy (driven over SMTP, with a recording next hop),
smtpbridge-milter (driven by a milter protocol v6 client) and smtpbridge-policyd (the Postfix
policy delegation protocol) — and every vector run through all three. Standard library only.

  run.py --bin-dir build/release/bin [--vectors GLOB] [--hosts proxy,milter,policy] [--keep] [-v]

Exit 0 when every vector holds on every host, 1 otherwise, 77 (ctest: skipped) when a binary is
missing."""

import argparse
import fnmatch
import glob
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SKIP = 77
HOSTS = ("proxy", "milter", "policy")
SENDER = "sender@example.org"
HELO = "client.example"


# ---------------------------------------------------------------- processes

class Stack:
    """Child processes started with --ready-file; stopped (SIGTERM, then SIGKILL) in reverse."""

    def __init__(self, work):
        self.work = work
        self.procs = []

    def log_path(self, name):
        return os.path.join(self.work, name + ".log")

    def start(self, name, argv):
        ready = os.path.join(self.work, name + ".ready")
        log = open(self.log_path(name), "w")
        proc = subprocess.Popen(argv + ["--ready-file", ready], stdout=log, stderr=log)
        self.procs.append((name, proc))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if os.path.exists(ready):
                with open(ready) as f:
                    address = f.read().strip()
                if address:
                    return address
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; see {log.name}")
            time.sleep(0.02)
        raise RuntimeError(f"{name} did not become ready; see {log.name}")

    def stop(self):
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def split_host_port(address):
    address = address.removeprefix("inet:")
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def write_atomically(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


# Every event type any host fires, bound twice: "high" (PRIO_HIGH, on_error continue) and "main"
# (PRIO_DEFAULT, on_error tempfail). A script rule without a binding answers for "main".
EVENTS = ("CONNECT", "INBOUND_COMMAND", "SESSION_START", "MESSAGE_START", "PER_RECIPIENT",
          "BEFORE_DATA", "SESSION_END", "OUTBOUND_COMMAND", "SERVER_RESPONSE")


def bindings_yaml(worker):
    out = ["defaults:", "  timeout: 3s", "bindings:"]
    for binding, priority, on_error in (("high", "PRIO_HIGH", "continue"), ("main", "PRIO_DEFAULT", "tempfail")):
        for event in EVENTS:
            out += [f"  - name: {binding}-{event.lower().replace('_', '-')}",
                    f"    event: {event}",
                    "    rule: '*'",
                    f"    priority: {priority}",
                    f"    sink: ipv4:{worker}",
                    f"    sink_properties: {{role: {binding}}}",
                    f"    on_error: {on_error}"]
            if event == "INBOUND_COMMAND":
                out.append("    body_limit: 65536")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- the next hop (proxy)

class NextHop:
    """A recording SMTP server: accepts everything, keeps each message's envelope and content."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.messages = []
        threading.Thread(target=self._accept, daemon=True).start()

    def take(self):
        with self.lock:
            taken, self.messages = self.messages, []
        return taken

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        f = conn.makefile("rb")
        send = lambda text: conn.sendall(text.encode() + b"\r\n")  # noqa: E731
        try:
            send("220 nexthop.example ESMTP")
            mail, rcpts = None, []
            while True:
                line = f.readline()
                if not line:
                    return
                cmd = line.decode("utf-8", "replace").rstrip("\r\n")
                verb = cmd[:4].upper()
                if verb in ("EHLO", "HELO"):
                    send("250-nexthop.example\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 10485760")
                elif verb == "MAIL":
                    mail, rcpts = cmd, []
                    send("250 2.1.0 Ok")
                elif verb == "RCPT":
                    rcpts.append(cmd)
                    send("250 2.1.5 Ok")
                elif verb == "DATA":
                    send("354 End data with <CR><LF>.<CR><LF>")
                    data = []
                    while True:
                        dl = f.readline()
                        if not dl or dl in (b".\r\n", b".\n"):
                            break
                        data.append(dl.decode("utf-8", "replace"))
                    with self.lock:
                        self.messages.append({"mail": mail, "rcpts": rcpts, "data": "".join(data)})
                    send("250 2.0.0 Ok: queued as VECTOR")
                    mail, rcpts = None, []
                elif verb == "RSET":
                    mail, rcpts = None, []
                    send("250 2.0.0 Ok")
                elif verb == "QUIT":
                    send("221 2.0.0 Bye")
                    return
                else:
                    send("250 2.0.0 Ok")
        except OSError:
            return
        finally:
            conn.close()


# ---------------------------------------------------------------- the transaction

def message_text(name):
    return (f"From: <{SENDER}>\r\nTo: <rcpt@example.com>\r\nSubject: vector {name}\r\n"
            f"Message-ID: <{name}@vectors.example>\r\n\r\nThe body of vector {name}.\r\n")


def headers_of(data):
    head = data.replace("\r\n", "\n").split("\n\n", 1)[0]
    return [h for h in head.split("\n") if h]


class Lines:
    def __init__(self, sock):
        self.f = sock.makefile("rb")

    def reply(self):
        lines = []
        while True:
            line = self.f.readline()
            if not line:
                return "closed" if not lines else "\n".join(lines)
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            lines.append(text)
            if len(text) < 4 or text[3] != "-":
                return "\n".join(lines)


def drive_proxy(address, vector, next_hop):
    """One SMTP session through the proxy; returns {step: reply}, plus what the next hop got."""
    host, port = split_host_port(address)
    results = {}
    next_hop.take()
    with socket.create_connection((host, port), timeout=15) as sock:
        r = Lines(sock)

        def step(name, line):
            if results.get("_closed"):
                results[name] = "closed"
                return "closed"
            try:
                sock.sendall(line.encode() + b"\r\n")
                reply = r.reply()
            except OSError:
                reply = "closed"
            results[name] = reply
            if reply == "closed" or reply.startswith("421") or reply.startswith("221"):
                results["_closed"] = True
            return reply

        banner = r.reply()
        results["CONNECT"] = banner
        if banner == "closed" or banner.startswith("421") or banner.startswith("5"):
            results["_closed"] = True
        step("EHLO", f"EHLO {HELO}")
        step("MAIL", f"MAIL FROM:<{vector['sender']}>")
        for i, rcpt in enumerate(vector["rcpts"]):
            step("RCPT" if i == 0 else f"RCPT{i + 1}", f"RCPT TO:<{rcpt}>")
        data = step("DATA", "DATA")
        if data.startswith("354"):
            body = message_text(vector["name"]).replace("\r\n.", "\r\n..")
            step("_EOD", body + ".")
        step("QUIT", "QUIT")
    # The client got the final reply only after the next hop answered, so what it got is recorded.
    results.pop("_closed", None)
    return results, next_hop.take()


# Milter protocol v6 (libmilter's mfdef.h), as an MTA speaks it.
SMFIP_NR = {"CONNECT": 0x1000, "HELO": 0x2000, "MAIL": 0x4000, "RCPT": 0x8000, "DATA": 0x10000,
            "HEADER": 0x80, "EOH": 0x40000, "BODY": 0x80000}
SMFIP_NO = {"CONNECT": 0x01, "HELO": 0x02, "MAIL": 0x04, "RCPT": 0x08, "BODY": 0x10, "HEADER": 0x20,
            "EOH": 0x40, "DATA": 0x200}
MODIFICATIONS = {b"h": "addheader", b"i": "insheader", b"m": "chgheader", b"+": "addrcpt",
                 b"2": "addrcpt_par", b"-": "delrcpt", b"e": "chgfrom", b"b": "replbody",
                 b"q": "quarantine"}


class MilterClient:
    def __init__(self, address):
        host, port = split_host_port(address)
        self.sock = socket.create_connection((host, port), timeout=15)
        self.f = self.sock.makefile("rb")

    def send(self, cmd, payload=b""):
        self.sock.sendall(struct.pack(">I", len(payload) + 1) + cmd + payload)

    def read(self):
        head = self.f.read(4)
        if len(head) < 4:
            return None, b""
        size = struct.unpack(">I", head)[0]
        body = self.f.read(size)
        return body[:1], body[1:]

    def negotiate(self, actions):
        # The actions the vector lets the MTA grant (default: all), every step flag Postfix offers.
        self.send(b"O", struct.pack(">III", 6, actions, 0x1FFFFF))
        cmd, payload = self.read()
        assert cmd == b"O", f"OPTNEG answered with {cmd!r}"
        _, self.actions, self.protocol = struct.unpack(">III", payload[:12])

    def macros(self, stage, pairs):
        body = stage + b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in pairs)
        self.send(b"D", body)

    def step(self, name, cmd, payload):
        """Send one step; its reply (or 'noreply' / 'skipped' as negotiated)."""
        if self.protocol & SMFIP_NO.get(name, 0):
            return "skipped"
        self.send(cmd, payload)
        if self.protocol & SMFIP_NR.get(name, 0):
            return "noreply"
        return self.answer()[0]

    def answer(self):
        """Reads until a final reply; returns (reply, [modifications])."""
        mods = []
        while True:
            cmd, payload = self.read()
            if cmd is None:
                return "closed", mods
            if cmd == b"p":
                continue
            if cmd in MODIFICATIONS:
                mods.append(describe_modification(cmd, payload))
                continue
            return describe_reply(cmd, payload), mods


def cstrings(payload):
    parts = payload.split(b"\0")
    if parts and parts[-1] == b"":
        parts = parts[:-1]
    return [p.decode("utf-8", "replace") for p in parts]


def describe_modification(cmd, payload):
    kind = MODIFICATIONS[cmd]
    if cmd in (b"m", b"i"):
        index = struct.unpack(">I", payload[:4])[0]
        return f"{kind} {index} " + " ".join(cstrings(payload[4:]))
    if cmd == b"b":
        return f"{kind} {payload.decode('utf-8', 'replace')}"
    return f"{kind} " + " ".join(cstrings(payload))


def describe_reply(cmd, payload):
    names = {b"c": "continue", b"a": "accept", b"r": "reject", b"t": "tempfail", b"d": "discard",
             b"s": "skip", b"f": "connfail", b"4": "shutdown"}
    if cmd == b"y":
        return "reply " + payload.rstrip(b"\0").decode("utf-8", "replace").replace("\r\n", "\n")
    return names.get(cmd, f"unknown {cmd!r}")


def stops(reply):
    return reply in ("reject", "tempfail", "discard", "accept", "closed", "shutdown", "connfail") or \
        reply.startswith("reply ")


def drive_milter(address, vector):
    results = {}
    m = MilterClient(address)
    try:
        m.negotiate(int(vector.get("milter_actions", "0x1FF"), 16))
        m.macros(b"C", [("j", "mx.vectors.example"), ("{daemon_name}", "vectors"),
                        ("{client_addr}", "127.0.0.1"), ("{client_port}", "40000")])
        results["CONNECT"] = r = m.step("CONNECT", b"C", b"client.example\0" + b"4" +
                                        struct.pack(">H", 40000) + b"127.0.0.1\0")
        if stops(r):
            return results
        results["EHLO"] = r = m.step("HELO", b"H", HELO.encode() + b"\0")
        if stops(r):
            return results
        m.macros(b"M", [("{mail_addr}", vector["sender"])])
        results["MAIL"] = r = m.step("MAIL", b"M", f"<{vector['sender']}>".encode() + b"\0")
        if stops(r):
            m.send(b"A")
            return results
        accepted = 0
        for i, rcpt in enumerate(vector["rcpts"]):
            m.macros(b"R", [("{rcpt_addr}", rcpt)])
            name = "RCPT" if i == 0 else f"RCPT{i + 1}"
            results[name] = r = m.step("RCPT", b"R", f"<{rcpt}>".encode() + b"\0")
            accepted += 0 if stops(r) and r != "accept" else 1
        if accepted == 0:
            m.send(b"A")
            return results
        results["DATA"] = r = m.step("DATA", b"T", b"")
        if stops(r):
            m.send(b"A")
            return results
        m.macros(b"T", [("i", "VECTORQID")])
        for header in headers_of(message_text(vector["name"])):
            name, _, value = header.partition(":")
            m.step("HEADER", b"L", name.encode() + b"\0" + value.lstrip().encode() + b"\0")
        m.step("EOH", b"N", b"")
        body = message_text(vector["name"]).split("\r\n\r\n", 1)[1]
        m.step("BODY", b"B", body.encode())
        m.macros(b"E", [("i", "VECTORQID")])
        m.send(b"E")
        results["_EOD"], results["modifications"] = m.answer()
        return results
    finally:
        try:
            m.send(b"Q")
        except OSError:
            pass
        m.sock.close()


def drive_policy(address, vector, instance):
    """One Postfix SMTP transaction as policy requests (one per protocol state) on one connection."""
    host, port = split_host_port(address)
    results = {}
    base = {"request": "smtpd_access_policy", "protocol_name": "ESMTP", "client_address": "127.0.0.1",
            "client_port": "40000", "client_name": "client.example", "reverse_client_name": "client.example",
            "server_address": "127.0.0.1", "server_port": "25", "instance": instance}
    steps = [("CONNECT", "CONNECT", {}), ("EHLO", "EHLO", {"helo_name": HELO}),
             ("MAIL", "MAIL", {"helo_name": HELO, "sender": vector["sender"]})]
    for i, rcpt in enumerate(vector["rcpts"]):
        steps.append(("RCPT" if i == 0 else f"RCPT{i + 1}", "RCPT",
                      {"helo_name": HELO, "sender": vector["sender"], "recipient": rcpt, "recipient_count": str(i)}))
    n = len(vector["rcpts"])
    steps += [("DATA", "DATA", {"helo_name": HELO, "sender": vector["sender"], "recipient_count": str(n),
                                "recipient": vector["rcpts"][0] if n == 1 else ""}),
              ("_EOD", "END-OF-MESSAGE", {"helo_name": HELO, "sender": vector["sender"], "recipient_count": str(n),
                                          "queue_id": "VECTORQID", "size": "200"})]
    with socket.create_connection((host, port), timeout=15) as sock:
        f = sock.makefile("rb")
        for name, state, attrs in steps:
            request = dict(base, protocol_state=state, **attrs)
            sock.sendall("".join(f"{k}={v}\n" for k, v in request.items()).encode() + b"\n")
            answer = []
            while True:
                line = f.readline()
                if not line:
                    answer.append("closed")
                    break
                line = line.decode("utf-8", "replace").rstrip("\n")
                if line == "":
                    break
                answer.append(line)
            results[name] = "\n".join(a.removeprefix("action=") for a in answer)
            if answer == ["closed"]:
                break
    return results


# ---------------------------------------------------------------- checking

def matches(expected, actual):
    """Exact, or a prefix when `expected` ends with '*'."""
    if actual is None:
        return False
    if expected.endswith("*"):
        return actual.startswith(expected[:-1])
    return actual == expected


def check_next_hop(expected, messages):
    problems = []
    if "delivered" in expected and len(messages) != expected["delivered"]:
        problems.append(f"next hop: {len(messages)} message(s) delivered, expected {expected['delivered']}")
        return problems
    if not messages:
        if any(k in expected for k in ("mail", "rcpts", "headers", "no_headers")):
            problems.append("next hop: no message delivered")
        return problems
    msg = messages[0]
    body = msg["data"].replace("\r\n", "\n").split("\n\n", 1)[-1]
    if "body" in expected and body != expected["body"]:
        problems.append(f"next hop: body {body!r}, expected {expected['body']!r}")
    if "mail" in expected and not matches(expected["mail"], msg["mail"]):
        problems.append(f"next hop: MAIL {msg['mail']!r}, expected {expected['mail']!r}")
    if "rcpts" in expected:
        got = [re.sub(r"^RCPT TO:<([^>]*)>.*$", r"\1", r, flags=re.I) for r in msg["rcpts"]]
        if got != expected["rcpts"]:
            problems.append(f"next hop: recipients {got}, expected {expected['rcpts']}")
    heads = headers_of(msg["data"])
    for h in expected.get("headers", []):
        if not any(matches(h, x) for x in heads):
            problems.append(f"next hop: no header {h!r} in {heads}")
    for h in expected.get("no_headers", []):
        if any(matches(h, x) for x in heads):
            problems.append(f"next hop: unexpected header {h!r}")
    return problems


def read_events(path, offset):
    """The events the worker saw for the "main" bindings since `offset` (its event log)."""
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        f.seek(offset)
        lines = f.read().decode("utf-8", "replace").splitlines()
    events = [json.loads(line) for line in lines if line.strip()]
    for e in events:
        e["type"] = e["type"].removeprefix("EVENT_TYPE_")
    return [e for e in events if e["binding"].startswith("main-")]


def check_events(expected, events):
    """Each expected event (a dict of fields) must match one the worker saw, field by field."""
    problems = []
    for want in expected:
        if not any(all(e.get(k) == v for k, v in want.items()) for e in events):
            seen = [{k: e[k] for k in ("type", "keyword", "sender", "has_sender", "recipient")}
                    for e in events if e["type"] == want.get("type")]
            problems.append(f"events: none like {want}; the worker saw {seen}")
    return problems


def refused_lines(path):
    with open(path, errors="replace") as f:
        return sum(1 for line in f if "refused" in line)


def wait_for_refused(path, before, want_more):
    """The host logs a refusal before it answers, but through a buffered file: give it a moment
    to show up (bounded), and none when none is expected."""
    deadline = time.monotonic() + (2.0 if want_more else 0.0)
    while True:
        now = refused_lines(path)
        if now > before or time.monotonic() >= deadline:
            return now - before
        time.sleep(0.02)


def check_host(expected, results):
    problems = []
    for step, want in expected.items():
        if step in ("next_hop", "refused", "modifications", "events"):
            continue
        got = results.get(step)
        if not matches(want, got):
            problems.append(f"{step}: got {got!r}, expected {want!r}")
    if "modifications" in expected:
        got = results.get("modifications")
        if got != expected["modifications"]:
            problems.append(f"modifications: got {got!r}, expected {expected['modifications']!r}")
    return problems


def load_vectors(pattern):
    vectors = []
    for path in sorted(glob.glob(os.path.join(HERE, "*.json"))):
        with open(path) as f:
            for v in json.load(f):
                v.setdefault("rcpts", ["rcpt@example.com"])
                v.setdefault("sender", SENDER)
                v["_file"] = os.path.basename(path)
                if fnmatch.fnmatch(v["name"], pattern):
                    vectors.append(v)
    names = [v["name"] for v in vectors]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise SystemExit(f"duplicate vector names: {sorted(dupes)}")
    return vectors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--worker", help="smtpbridge-scripted-worker (default: BIN_DIR's)")
    ap.add_argument("--vectors", default="*", help="glob on vector names")
    ap.add_argument("--hosts", default=",".join(HOSTS))
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()

    hosts = [h for h in args.hosts.split(",") if h]
    binaries = {"worker": args.worker or os.path.join(args.bin_dir, "smtpbridge-scripted-worker"),
                "dispatcher": os.path.join(args.bin_dir, "smtpbridge-dispatcher"),
                "proxy": os.path.join(args.bin_dir, "smtpbridge-proxy"),
                "milter": os.path.join(args.bin_dir, "smtpbridge-milter"),
                "policy": os.path.join(args.bin_dir, "smtpbridge-policyd")}
    for name in ["worker", "dispatcher"]:
        if not os.access(binaries[name], os.X_OK):
            print(f"skipped: {binaries[name]} not built")
            return SKIP
    missing = []
    for host in list(hosts):
        if not os.access(binaries[host], os.X_OK):
            print(f"skipped host {host}: {binaries[host]} not built")
            hosts.remove(host)
            missing.append(host)
    if not hosts:
        return SKIP

    vectors = load_vectors(args.vectors)
    work = tempfile.mkdtemp(prefix="smtpbridge-host-vectors-")
    stack = Stack(work)
    failures = []
    passed = 0
    try:
        script = os.path.join(work, "script.json")
        write_atomically(script, json.dumps({"rules": []}))
        worker = stack.start("worker", [binaries["worker"], "--listen", "127.0.0.1:0", "--script", script,
                                        "--event-log", os.path.join(work, "events.jsonl")])
        bindings = os.path.join(work, "bindings.yaml")
        write_atomically(bindings, bindings_yaml(worker))
        dispatcher = stack.start("dispatcher", [binaries["dispatcher"], "--listen", "127.0.0.1:0",
                                                "--bindings", bindings, "--cache-entries", "0",
                                                "--log-level", "warn"])
        addresses = {}
        next_hop = NextHop()
        config = os.path.join(work, "proxy.yaml")
        write_atomically(config, "hostname: mx.vectors.example\nthreads: 1\nbudgets:\n  default: 3s\n"
                                 "  _EOD: 3s\n")
        # Each host twice: behind the dispatcher, and ("direct") with the worker as its dispatcher,
        # so verdicts reach it unvalidated and its own defence shows. Generous budgets: these
        # vectors check what each verdict does, never a fallback.
        for via, target in (("dispatcher", "ipv4:" + dispatcher), ("direct", "ipv4:" + worker)):
            suffix = "" if via == "dispatcher" else "-direct"
            if "proxy" in hosts:
                addresses["proxy" + suffix] = stack.start("proxy" + suffix, [
                    binaries["proxy"], "--listen", "127.0.0.1:0", "--next-hop", f"127.0.0.1:{next_hop.port}",
                    "--dispatcher", target, "--config", config])
            if "milter" in hosts:
                addresses["milter" + suffix] = stack.start("milter" + suffix, [
                    binaries["milter"], "--listen", "inet:127.0.0.1:0", "--dispatcher", target, "--threads", "1",
                    "--budget-command", "3s", "--budget-eom", "3s"])
            if "policy" in hosts:
                addresses["policy" + suffix] = stack.start("policy" + suffix, [
                    binaries["policy"], "--listen", "127.0.0.1:0", "--dispatcher", target, "--threads", "1",
                    "--budget", "3s"])

        for n, vector in enumerate(vectors):
            rules = [dict({"binding": "main"}, **rule) for rule in vector["script"]]
            write_atomically(script, json.dumps({"rules": rules}))
            direct = vector.get("via", "dispatcher") == "direct"
            for host in hosts:
                expected = vector["expect"].get(host)
                if expected is None:
                    continue
                instance = host + ("-direct" if direct else "")
                log = stack.log_path(instance)
                refused_before = refused_lines(log)
                events_log = os.path.join(work, "events.jsonl")
                events_offset = os.path.getsize(events_log) if os.path.exists(events_log) else 0
                messages = []
                try:
                    if host == "proxy":
                        results, messages = drive_proxy(addresses[instance], vector, next_hop)
                    elif host == "milter":
                        results = drive_milter(addresses[instance], vector)
                    else:
                        results = drive_policy(addresses[instance], vector, f"vector{n}")
                except (OSError, AssertionError) as e:
                    results = {"error": repr(e)}
                problems = check_host(expected, results)
                if host == "proxy" and "next_hop" in expected:
                    problems += check_next_hop(expected["next_hop"], messages)
                if "events" in expected:
                    problems += check_events(expected["events"], read_events(events_log, events_offset))
                if "refused" in expected:
                    refused = wait_for_refused(log, refused_before, expected["refused"])
                    if bool(refused) != expected["refused"]:
                        problems.append(f"refused and counted: {refused} log line(s), expected "
                                        f"{'some' if expected['refused'] else 'none'}")
                label = f"{vector['name']} [{instance}]"
                if problems:
                    failures.append(label)
                    print(f"FAIL {label} ({vector['_file']})")
                    for p in problems:
                        print(f"     {p}")
                    print(f"     results: {json.dumps(results)}")
                else:
                    passed += 1
                    print(f"ok   {label}")
                    if args.verbose:
                        print(f"     results: {json.dumps(results)}")
                        for m in messages:
                            print(f"     next hop: {json.dumps({k: m[k] for k in ('mail', 'rcpts')})}")
    except RuntimeError as e:
        print(f"FAIL stack: {e}")
        failures.append("stack")
    finally:
        stack.stop()
        if failures or args.keep:
            print(f"logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"{passed} passed, {len(failures)} failed" + (f" (hosts skipped, not built: {','.join(missing)})" if missing else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
