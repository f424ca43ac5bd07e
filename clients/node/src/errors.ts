import { status, type ServiceError, Metadata } from "@grpc/grpc-js";

/**
 * An error that reaches the dispatcher with a chosen gRPC status code:
 * `throw new WorkerError(status.UNAVAILABLE, "backend down")`. Any thrown error makes the
 * dispatcher apply the binding's on_error; others become INTERNAL.
 */
export class WorkerError extends Error {
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
    this.name = "WorkerError";
  }
}

function isGrpcCode(code: unknown): code is status {
  return typeof code === "number" && Number.isInteger(code) && code > status.OK && code <= status.UNAUTHENTICATED;
}

/** The gRPC error a thrown value becomes: its own numeric code if it carries one, else INTERNAL. */
export function toServiceError(err: unknown): Partial<ServiceError> {
  const e = err as { code?: unknown; message?: unknown } | null | undefined;
  const message = err instanceof Error ? err.message : String(err);
  const code = isGrpcCode(e?.code) ? e.code : status.INTERNAL;
  return { code, details: message, message, metadata: new Metadata() };
}
