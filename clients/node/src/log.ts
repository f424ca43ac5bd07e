// The worker's logger: console-like, with a level. The default writes one line per record to
// stderr at the level of SMTPBRIDGE_LOG_LEVEL (info when unset).

/** Anything console-like. */
export interface Logger {
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "off"] as const;

/** Records at `level` and above to stderr, each line "<ISO time> <level> <message>". */
export function stderrLogger(level: string = process.env.SMTPBRIDGE_LOG_LEVEL || "info"): Logger {
  const normalized = level.toLowerCase() === "warning" ? "warn" : level.toLowerCase();
  const min = LOG_LEVELS.indexOf(normalized as (typeof LOG_LEVELS)[number]);
  if (min < 0) throw new Error(`unknown log level "${level}" (one of ${LOG_LEVELS.join(", ")})`);
  const at = (l: (typeof LOG_LEVELS)[number]) =>
    min <= LOG_LEVELS.indexOf(l)
      ? (...args: unknown[]) =>
          process.stderr.write(
            `${new Date().toISOString()} ${l} ${args.map((a) => (a instanceof Error ? (a.stack ?? a.message) : typeof a === "string" ? a : JSON.stringify(a))).join(" ")}\n`,
          )
      : () => {};
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}
