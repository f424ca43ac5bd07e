// Mutual TLS from (cert, key, client CA) made with openssl: a client with a certificate from the
// client CA is served; one without a certificate, with an expired one or from another CA is refused at the handshake;
// a new client CA file is picked up without a restart.
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { EventType, Verdict, Worker, proto, tlsServerCredentials } from "../src";

function makeCerts(d: string): void {
  const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: d, stdio: "pipe" });
  for (const ca of ["ca", "other-ca"]) {
    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", `/CN=${ca}`, "-keyout", `${ca}.key`, "-out", `${ca}.crt`);
  }
  const leaf = (name: string, ca: string, ext: string) => {
    writeFileSync(join(d, `${name}.ext`), ext);
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", `/CN=${name}`, "-keyout", `${name}.key`, "-out", `${name}.csr`);
    ssl("x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.crt`, "-CAkey", `${ca}.key`, "-CAcreateserial", "-days", "2", "-extfile", `${name}.ext`, "-out", `${name}.crt`);
  };
  leaf("server", "ca", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  leaf("client", "ca", "extendedKeyUsage=clientAuth\n");
  leaf("other-client", "other-ca", "extendedKeyUsage=clientAuth\n");
  leaf("server2", "other-ca", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  // An expired client certificate from ca: `openssl ca` takes explicit dates.
  writeFileSync(join(d, "ca.cnf"), "[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial.txt\ndefault_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n");
  writeFileSync(join(d, "index.txt"), "");
  writeFileSync(join(d, "serial.txt"), "01\n");
  writeFileSync(join(d, "expired-client.ext"), "extendedKeyUsage=clientAuth\n");
  ssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=expired-client", "-keyout", "expired-client.key", "-out", "expired-client.csr");
  ssl("ca", "-batch", "-config", "ca.cnf", "-cert", "ca.crt", "-keyfile", "ca.key", "-in", "expired-client.csr", "-out", "expired-client.crt",
    "-startdate", "20200101000000Z", "-enddate", "20200102000000Z", "-extfile", "expired-client.ext", "-notext");
}

function tlsClient(d: string, address: string, client?: string, serverCa = "ca"): proto.sink.PolicySinkClient {
  const read = (f: string) => readFileSync(join(d, f));
  const creds = client
    ? grpc.credentials.createSsl(read(`${serverCa}.crt`), read(`${client}.key`), read(`${client}.crt`))
    : grpc.credentials.createSsl(read(`${serverCa}.crt`));
  return new proto.sink.PolicySinkClient(address, creds);
}

function onEvent(c: proto.sink.PolicySinkClient): Promise<proto.verdict.Verdict> {
  return new Promise<proto.verdict.Verdict>((resolve, reject) =>
    c.onEvent(proto.sink.SinkRequest.fromPartial({ event: { type: EventType.CONNECT } }), new grpc.Metadata(),
      { deadline: Date.now() + 5_000 }, (err, v) => (err ? reject(err) : resolve(v))),
  );
}

function tlsCall(d: string, address: string, client?: string, serverCa = "ca"): Promise<proto.verdict.Verdict> {
  const c = tlsClient(d, address, client, serverCa);
  return onEvent(c).finally(() => c.close());
}

function replace(from: string, to: string): void {
  copyFileSync(from, to);
  const later = new Date(Date.now() + 2000);
  utimesSync(to, later, later);
}

test("mutual TLS serves valid clients, refuses others, and reloads the client CA", async (t) => {
  const d = mkdtempSync(join(tmpdir(), "sbx-node-tls-"));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  makeCerts(d);
  const clientCa = join(d, "client-ca.pem");
  copyFileSync(join(d, "ca.crt"), clientCa);
  const w = new Worker({
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    credentials: tlsServerCredentials({ cert: join(d, "server.crt"), key: join(d, "server.key"), clientCa, refreshInterval: 0.05 }),
  }).on(EventType.CONNECT, "*", () => Verdict.continue().reason("served"));
  const address = await w.listen("127.0.0.1:0", { handleSignals: false });
  t.after(() => w.shutdown());

  assert.equal((await tlsCall(d, address, "client")).reason, "served");
  await assert.rejects(tlsCall(d, address), { code: grpc.status.UNAVAILABLE });
  await assert.rejects(tlsCall(d, address, "other-client"), { code: grpc.status.UNAVAILABLE });
  await assert.rejects(tlsCall(d, address, "expired-client"), { code: grpc.status.UNAVAILABLE });

  // Rotate the client CA file; the provider re-reads it on its refresh interval.
  replace(join(d, "other-ca.crt"), clientCa);
  const deadline = Date.now() + 20_000;
  let served = false;
  while (!served && Date.now() < deadline) {
    served = await tlsCall(d, address, "other-client").then(() => true, () => false);
    if (!served) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(served, "the rotated client CA was not picked up");
  await assert.rejects(tlsCall(d, address, "client"), { code: grpc.status.UNAVAILABLE });
});

test("a rotated server certificate is picked up while traffic flows", async (t) => {
  const d = mkdtempSync(join(tmpdir(), "sbx-node-tls-"));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  makeCerts(d);
  const cert = join(d, "live.crt");
  const key = join(d, "live.key");
  copyFileSync(join(d, "server.crt"), cert);
  copyFileSync(join(d, "server.key"), key);
  const w = new Worker({
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    credentials: tlsServerCredentials({ cert, key, clientCa: join(d, "ca.crt"), refreshInterval: 0.05 }),
  }).on(EventType.CONNECT, "*", () => Verdict.continue().reason("served"));
  const address = await w.listen("127.0.0.1:0", { handleSignals: false });
  t.after(() => w.shutdown());

  const busy = tlsClient(d, address, "client");
  t.after(() => busy.close());
  const answers: string[] = [];
  for (let i = 0; i < 5; i++) answers.push((await onEvent(busy)).reason);
  // Rotate to a certificate from another CA, key first.
  replace(join(d, "server2.key"), key);
  replace(join(d, "server2.crt"), cert);
  const deadline = Date.now() + 20_000;
  let served = false;
  while (!served && Date.now() < deadline) {
    // Traffic keeps flowing on the open connection while the provider picks the files up.
    answers.push((await onEvent(busy)).reason);
    served = await tlsCall(d, address, "client", "other-ca").then(() => true, () => false);
  }
  assert.ok(served, "a new connection never got the rotated certificate");
  await assert.rejects(tlsCall(d, address, "client", "ca"), { code: grpc.status.UNAVAILABLE });
  for (let i = 0; i < 5; i++) answers.push((await onEvent(busy)).reason);
  assert.ok(answers.every((a) => a === "served"), answers.join(","));
});
