#!/usr/bin/python3
"""The reference: the same policy as the smtpbridge bench (reject RCPT to blocked@...) as a
plain pymilter (python3-milter) filter. Run under /usr/bin/python3 (Debian's milter module).
usage: pymilter_filter.py PORT | inet:PORT@HOST | unix:/path"""

import sys

import Milter


class BlockRecipient(Milter.Base):
    def envrcpt(self, to, *params):
        address = to.strip("<>").lower()
        if address.startswith("blocked@"):
            self.setreply("550", "5.7.1", "Recipient blocked by policy")
            return Milter.REJECT
        return Milter.CONTINUE


if __name__ == "__main__":
    Milter.factory = BlockRecipient
    where = sys.argv[1]
    Milter.runmilter("pymilter-bench", where if ":" in where else f"inet:{where}@127.0.0.1", 240)
