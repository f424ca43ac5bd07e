// The command line every runnable worker shares (flags, or the environment when a flag is absent).
import { renameSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { TlsFiles } from "./tls";

export interface ServeArgs {
  listen: string;
  readyFile: string | undefined;
  logLevel: string;
  tls: TlsFiles | undefined;
}

export const DEFAULT_LISTEN = "127.0.0.1:50051";

/** --listen, --ready-file, --log-level, --tls-cert, --tls-key, --tls-client-ca (or SMTPBRIDGE_* env). */
export function parseServeArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): ServeArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      listen: { type: "string" },
      "ready-file": { type: "string" },
      "log-level": { type: "string" },
      "tls-cert": { type: "string" },
      "tls-key": { type: "string" },
      "tls-client-ca": { type: "string" },
    },
  });
  const pick = (flag: keyof typeof values, name: string) => (values[flag] as string | undefined) ?? (env[name] || undefined);
  const cert = pick("tls-cert", "SMTPBRIDGE_TLS_CERT");
  const key = pick("tls-key", "SMTPBRIDGE_TLS_KEY");
  const clientCa = pick("tls-client-ca", "SMTPBRIDGE_TLS_CLIENT_CA");
  const given = [cert, key, clientCa].filter((v) => v !== undefined).length;
  if (given !== 0 && given !== 3) throw new Error("TLS needs all of --tls-cert, --tls-key and --tls-client-ca");
  return {
    listen: pick("listen", "SMTPBRIDGE_LISTEN") ?? DEFAULT_LISTEN,
    readyFile: pick("ready-file", "SMTPBRIDGE_READY_FILE"),
    logLevel: pick("log-level", "SMTPBRIDGE_LOG_LEVEL") ?? "info",
    tls: given === 3 ? { cert: cert!, key: key!, clientCa: clientCa! } : undefined,
  };
}

/** Write the bound address and a newline atomically (temp file, then rename). */
export function writeReadyFile(path: string | undefined, address: string): void {
  if (!path) return;
  writeFileSync(`${path}.tmp${process.pid}`, `${address}\n`);
  renameSync(`${path}.tmp${process.pid}`, path);
}
