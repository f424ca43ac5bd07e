"""Mutual TLS from (cert, key, client CA): a client with a certificate from the client CA is
served; one without a certificate, with an expired one or from another CA is refused at the handshake; a new client CA
file is picked up without a restart."""
import os

import grpc
import pytest

from smtpbridge import EventContext, TlsFiles, Verdict, Worker
from smtpbridge import pb

from conftest import make_request
from tls_certs import make_certs


def _creds(d, client=None):
    chain = (d / f"{client}.crt").read_bytes() if client else None
    key = (d / f"{client}.key").read_bytes() if client else None
    return grpc.ssl_channel_credentials(root_certificates=(d / "ca.crt").read_bytes(),
                                        private_key=key, certificate_chain=chain)


async def _call(address, creds):
    async with grpc.aio.secure_channel(address, creds, options=[("grpc.ssl_target_name_override", "localhost")]) as ch:
        return await pb.PolicySinkStub(ch).OnEvent(make_request(pb.event_pb2.EVENT_TYPE_CONNECT), timeout=10)


async def _refused(address, creds):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _call(address, creds)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_mutual_tls_serves_valid_clients_refuses_others_and_reloads(tmp_path):
    d = make_certs(tmp_path)
    client_ca = tmp_path / "client-ca.pem"
    client_ca.write_bytes((d / "ca.crt").read_bytes())
    worker = Worker("tls-worker", tls=TlsFiles(str(d / "server.crt"), str(d / "server.key"), str(client_ca)))

    @worker.on_connect
    async def connect(ev: EventContext) -> Verdict:
        return Verdict.continue_().reason("served")

    address = await worker.start("127.0.0.1:0")
    try:
        assert (await _call(address, _creds(d, "client"))).reason == "served"
        await _refused(address, _creds(d))                   # no client certificate
        await _refused(address, _creds(d, "other-client"))   # a certificate from another CA
        await _refused(address, _creds(d, "expired-client")) # an expired certificate from the CA

        # Rotate the client CA: the next handshake uses the new file, no restart.
        client_ca.write_bytes((d / "other-ca.crt").read_bytes())
        st = client_ca.stat()
        os.utime(client_ca, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        assert (await _call(address, _creds(d, "other-client"))).reason == "served"
        await _refused(address, _creds(d, "client"))
    finally:
        await worker.stop(grace=1)
