// The worker serves grpc.health.v1 and grpc.reflection.v1 beside PolicySink, as the repository's
// servers do (Kubernetes probes, grpcurl).
import { strict as assert } from "node:assert";
import { test } from "node:test";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { service as healthService } from "grpc-health-check";
import { Worker } from "../src";

type Callback<T> = (err: grpc.ServiceError | null, res: T) => void;

test("health says SERVING, then NOT_SERVING while draining; reflection lists PolicySink", async (t) => {
  const w = new Worker({ gracePeriod: 5 });
  const address = await w.listen("127.0.0.1:0", { handleSignals: false });
  t.after(() => w.shutdown());

  const Health = grpc.makeGenericClientConstructor(healthService, "Health");
  const health = new Health(address, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    check(req: { service: string }, cb: Callback<{ status: string }>): void;
    watch(req: { service: string }): grpc.ClientReadableStream<{ status: string }>;
  };
  t.after(() => health.close());
  const check = (service: string) =>
    new Promise<string>((resolve, reject) => health.check({ service }, (err, res) => (err ? reject(err) : resolve(res.status))));
  assert.equal(await check(""), "SERVING");
  assert.equal(await check("smtpbridge.v1.PolicySink"), "SERVING");
  await assert.rejects(check("no.such.Service"), { code: grpc.status.NOT_FOUND });

  const reflectionProto = join(require.resolve("@grpc/reflection/package.json"), "..", "build", "proto", "grpc", "reflection", "v1", "reflection.proto");
  // The reflection client is built at run time from its .proto: no static type to name.
  type Reflection = grpc.Client & { ServerReflectionInfo(): grpc.ClientDuplexStream<object, ReflectionAnswer> };
  type ReflectionAnswer = { listServicesResponse: { service: { name: string }[] } };
  const def = grpc.loadPackageDefinition(protoLoader.loadSync(reflectionProto)) as unknown as {
    grpc: { reflection: { v1: { ServerReflection: new (a: string, c: grpc.ChannelCredentials) => Reflection } } };
  };
  const reflection = new def.grpc.reflection.v1.ServerReflection(address, grpc.credentials.createInsecure());
  t.after(() => reflection.close());
  const services = await new Promise<string[]>((resolve, reject) => {
    const stream = reflection.ServerReflectionInfo();
    stream.on("data", (res: ReflectionAnswer) => {
      resolve(res.listServicesResponse.service.map((s: { name: string }) => s.name));
      stream.end();
    });
    stream.on("error", reject);
    stream.write({ listServices: "" });
  });
  assert.ok(services.includes("smtpbridge.v1.PolicySink"), services.join(","));

  // Draining: watchers hear NOT_SERVING first, so probes see it before connections close.
  const watch = health.watch({ service: "" });
  const statuses: string[] = [];
  const notServing = new Promise<void>((resolve, reject) => {
    watch.on("data", (res) => {
      statuses.push(res.status);
      if (res.status === "SERVING") void w.shutdown();
      if (res.status === "NOT_SERVING") {
        watch.cancel();
        resolve();
      }
    });
    watch.on("error", (err: grpc.ServiceError) => (err.code === grpc.status.CANCELLED ? undefined : reject(err)));
  });
  await notServing;
  await w.shutdown();
  assert.deepEqual(statuses, ["SERVING", "NOT_SERVING"]);
});
