#!/usr/bin/env python3
"""The reference for the policy host: a minimal Postfix policy daemon (check_policy_service) on
asyncio, with the same rule as the smtpbridge bench (reject RCPT to blocked@...). One process,
one event loop, persistent connections, no dependencies.
usage: policy_asyncio.py PORT"""

import asyncio
import sys


def decide(attrs):
    recipient = attrs.get("recipient", "").lower()
    if attrs.get("protocol_state") == "RCPT" and recipient.startswith("blocked@"):
        return "REJECT 5.7.1 Recipient blocked by policy"
    return "DUNNO"


async def serve(reader, writer):
    attrs = {}
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            line = line.rstrip(b"\r\n")
            if line:
                name, _, value = line.decode("utf-8", "replace").partition("=")
                attrs[name] = value
                continue
            # An empty line ends a request; the connection stays open for the next one.
            writer.write(f"action={decide(attrs)}\n\n".encode())
            await writer.drain()
            attrs = {}
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def main(port):
    server = await asyncio.start_server(serve, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
