"""Mutual TLS from (cert, key, client CA): a client with a certificate from the client CA is
served; one without a certificate, with an expired one or from another CA is refused at the handshake; a new client CA
file is picked up without a restart."""
import os

import grpc
import pytest
from conftest import make_request
from tls_certs import make_certs

from smtpbridge import EventContext, TlsFiles, Verdict, Worker, pb


def _creds(d, client=None, server_ca="ca"):
    chain = (d / f"{client}.crt").read_bytes() if client else None
    key = (d / f"{client}.key").read_bytes() if client else None
    return grpc.ssl_channel_credentials(root_certificates=(d / f"{server_ca}.crt").read_bytes(),
                                        private_key=key, certificate_chain=chain)


def _touch_later(path):
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


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
        _touch_later(client_ca)
        assert (await _call(address, _creds(d, "other-client"))).reason == "served"
        await _refused(address, _creds(d, "client"))
    finally:
        await worker.stop(grace=1)


async def test_a_rotated_server_certificate_is_picked_up_while_traffic_flows(tmp_path):
    d = make_certs(tmp_path)
    cert, key = tmp_path / "live.crt", tmp_path / "live.key"
    cert.write_bytes((d / "server.crt").read_bytes())
    key.write_bytes((d / "server.key").read_bytes())
    worker = Worker("tls-worker", tls=TlsFiles(str(cert), str(key), str(d / "ca.crt")))

    @worker.on_connect
    async def connect(ev: EventContext) -> Verdict:
        return Verdict.continue_().reason("served")

    address = await worker.start("127.0.0.1:0")
    options = [("grpc.ssl_target_name_override", "localhost")]
    request = make_request(pb.event_pb2.EVENT_TYPE_CONNECT)
    try:
        async with grpc.aio.secure_channel(address, _creds(d, "client"), options=options) as busy:
            stub = pb.PolicySinkStub(busy)
            answers = [(await stub.OnEvent(request, timeout=10)).reason for _ in range(5)]
            # Rotate to a certificate from another CA (key first: a reader never pairs a new
            # certificate with the old key for long).
            key.write_bytes((d / "server2.key").read_bytes())
            cert.write_bytes((d / "server2.crt").read_bytes())
            _touch_later(cert)
            _touch_later(key)
            # A new connection gets the new certificate; the open one keeps serving throughout.
            assert (await _call(address, _creds(d, "client", server_ca="other-ca"))).reason == "served"
            await _refused(address, _creds(d, "client", server_ca="ca"))
            answers += [(await stub.OnEvent(request, timeout=10)).reason for _ in range(5)]
        assert answers == ["served"] * 10
    finally:
        await worker.stop(grace=1)
