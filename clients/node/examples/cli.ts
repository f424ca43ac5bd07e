// Shared by the example programs: the repository's --listen / --ready-file conventions.
import { renameSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";

export interface ServeFlags {
  listen: string;
  readyFile: string | undefined;
  logLevel: string;
}

export function parseServeFlags(defaultListen: string): ServeFlags {
  const { values } = parseArgs({
    options: {
      listen: { type: "string", default: defaultListen },
      "ready-file": { type: "string" },
      "log-level": { type: "string", default: "info" },
    },
  });
  return { listen: values.listen!, readyFile: values["ready-file"], logLevel: values["log-level"]! };
}

/** Console on stderr, quiet below the chosen level. */
export function stderrLogger(level: string) {
  const order = ["trace", "debug", "info", "warn", "error", "off"];
  const min = order.indexOf(level === "warning" ? "warn" : level);
  if (min < 0) throw new Error(`--log-level: unknown level "${level}"`);
  const at = (l: string) => (min <= order.indexOf(l) ? (...a: unknown[]) => console.error(`[${l}]`, ...a) : () => {});
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** Write the bound address atomically (temp file, then rename), as tests/support expects. */
export function writeReadyFile(path: string | undefined, address: string): void {
  if (!path) return;
  writeFileSync(`${path}.tmp`, `${address}\n`);
  renameSync(`${path}.tmp`, path);
}
