"""A throwaway Postfix instance for tests and benches: its own config, queue and data
directories under a temp dir, smtpd on a loopback port, every message delivered by a pipe
transport into one mbox file (or discarded). Must run as root (Postfix's master does)."""

import os
import shutil
import socket
import subprocess
import time

MASTER_CF = """\
{port}  inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
mbox      unix  -       n       n       -       1       pipe
  flags=F user=nobody argv=/usr/bin/tee -a {mbox}
"""


def postfix_available():
    return shutil.which("postfix") is not None and os.path.exists("/usr/lib/postfix/sbin/master")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostfixInstance:
    def __init__(self, base_dir, milter=None, policy=None, deliver="mbox", extra=None):
        self.base = os.path.abspath(base_dir)
        self.config_dir = os.path.join(self.base, "etc")
        self.queue_dir = os.path.join(self.base, "queue")
        self.data_dir = os.path.join(self.base, "data")
        self.mbox = os.path.join(self.base, "out", "delivered.mbox")
        self.maillog = os.path.join(self.base, "maillog")
        self.port = free_port()
        self.started = False
        for d in (self.config_dir, self.queue_dir, self.data_dir, os.path.dirname(self.mbox)):
            os.makedirs(d, exist_ok=True)
        shutil.chown(self.data_dir, "postfix")
        # The pipe transport runs as nobody.
        os.chmod(os.path.dirname(self.mbox), 0o777)
        open(self.mbox, "a").close()
        os.chmod(self.mbox, 0o666)
        main = {
            "compatibility_level": "3.6",
            "queue_directory": self.queue_dir,
            "data_directory": self.data_dir,
            "command_directory": "/usr/sbin",
            "daemon_directory": "/usr/lib/postfix/sbin",
            "meta_directory": "/etc/postfix",
            "shlib_directory": "/usr/lib/postfix",
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": "mx.e2e.test",
            "mydomain": "e2e.test",
            "mydestination": "",
            "local_recipient_maps": "",
            "relay_domains": "",
            "mynetworks": "127.0.0.0/8",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "maillog_file": self.maillog,
            # Postfix refuses a maillog_file outside these prefixes (default /var, /dev/stdout).
            "maillog_file_prefixes": self.base,
            "default_transport": "discard" if deliver == "discard" else "mbox",
            "local_transport": "discard" if deliver == "discard" else "mbox",
            "mbox_destination_recipient_limit": "1",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "smtpd_client_connection_count_limit": "0",
            "smtpd_client_connection_rate_limit": "0",
            "smtpd_client_message_rate_limit": "0",
            "smtpd_client_recipient_rate_limit": "0",
            "anvil_rate_time_unit": "60s",
            "default_process_limit": "200",
            "smtputf8_enable": "no",
            "biff": "no",
            "alias_maps": "",
            "alias_database": "",
            "milter_default_action": "accept",
        }
        if milter:
            main["smtpd_milters"] = milter
            main["milter_protocol"] = "6"
        if policy:
            main["smtpd_recipient_restrictions"] = (
                f"check_policy_service {policy}, permit_mynetworks, reject_unauth_destination")
        main.update(extra or {})
        with open(os.path.join(self.config_dir, "main.cf"), "w") as f:
            for k, v in main.items():
                f.write(f"{k} = {v}\n")
        with open(os.path.join(self.config_dir, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(port=f"127.0.0.1:{self.port}", mbox=self.mbox))

    def _postfix(self, *args, check=True):
        return subprocess.run(["postfix", "-c", self.config_dir, *args], capture_output=True,
                              text=True, timeout=60, check=check)

    def start(self):
        self._postfix("start")
        self.started = True
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(512).startswith(b"220"):
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"postfix did not start on port {self.port}; see {self.maillog}")

    def master_pid(self):
        try:
            with open(os.path.join(self.queue_dir, "pid", "master.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    @staticmethod
    def _alive(pid):
        try:
            os.kill(pid, 0)
            return True
        except OSError:
            return False

    def stop(self):
        """Stops the instance and waits for its master to exit (SIGKILL after 10 s)."""
        if not self.started:
            return
        self.started = False
        pid = self.master_pid()
        self._postfix("stop", check=False)
        if pid is None:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self._alive(pid):
            time.sleep(0.05)
        if self._alive(pid):
            self._postfix("abort", check=False)
            try:
                os.kill(pid, 9)
            except OSError:
                pass

    def queue(self):
        """postqueue -p output (held messages are marked with '!')."""
        return subprocess.run(["postqueue", "-c", self.config_dir, "-p"], capture_output=True,
                              text=True, timeout=30).stdout

    def held_ids(self):
        return [line.split()[0].rstrip("!") for line in self.queue().splitlines()
                if line and line.split()[0].endswith("!")]

    def postcat(self, queue_id):
        return subprocess.run(["postcat", "-c", self.config_dir, "-q", queue_id],
                              capture_output=True, text=True, timeout=30).stdout

    def delivered(self):
        with open(self.mbox, errors="replace") as f:
            return f.read()

    def wait_delivered(self, needle, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.delivered()
            if needle in text:
                return text
            time.sleep(0.1)
        return None

    def log(self):
        try:
            with open(self.maillog, errors="replace") as f:
                return f.read()
        except OSError:
            return ""
