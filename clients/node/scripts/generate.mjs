// Generates TypeScript for proto/smtpbridge/v1/*.proto into src/gen/ with ts-proto (through
// Debian's protoc), and copies the .proto files to dist/proto/ for the reflection service.
// Both outputs are build products (gitignored): the repository's proto/ is the only source.
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const pkg = join(dirname(fileURLToPath(import.meta.url)), "..");
const protoRoot = process.env.SMTPBRIDGE_PROTO_ROOT ?? join(pkg, "..", "..", "proto");
const protoDir = join(protoRoot, "smtpbridge", "v1");
const protos = readdirSync(protoDir).filter((f) => f.endsWith(".proto")).map((f) => join(protoDir, f));
const genDir = join(pkg, "src", "gen");
const plugin = join(pkg, "node_modules", ".bin", "protoc-gen-ts_proto");

rmSync(genDir, { recursive: true, force: true });
mkdirSync(genDir, { recursive: true });
execFileSync("protoc", [
  `--plugin=protoc-gen-ts_proto=${plugin}`,
  `--ts_proto_out=${genDir}`,
  "--ts_proto_opt=outputServices=grpc-js,env=node,esModuleInterop=true,useDate=false",
  `-I${protoRoot}`,
  ...protos,
], { stdio: "inherit" });

const protoOut = join(pkg, "dist", "proto", "smtpbridge", "v1");
rmSync(join(pkg, "dist", "proto"), { recursive: true, force: true });
mkdirSync(protoOut, { recursive: true });
for (const p of protos) cpSync(p, join(protoOut, p.split("/").pop()));
console.log(`generated ${protos.length} proto files into src/gen/`);
