// TLS with client-certificate verification from three files (cert, key, client CA), re-read when
// they change: grpc-js's FileWatcherCertificateProvider polls them and swaps the credentials for
// new handshakes, open calls keep theirs.
import * as grpc from "@grpc/grpc-js";

export interface TlsFiles {
  /** PEM certificate chain the worker presents. */
  cert: string;
  /** PEM private key of that certificate. */
  key: string;
  /** PEM CA bundle that client certificates must chain to; clients without one are refused. */
  clientCa: string;
  /** How often the files are checked for changes, in seconds (default 60). */
  refreshInterval?: number;
}

/** Server credentials for listen(): mutual TLS from the three files, reloaded on change. */
export function tlsServerCredentials(files: TlsFiles): grpc.ServerCredentials {
  const provider = new grpc.experimental.FileWatcherCertificateProvider({
    certificateFile: files.cert,
    privateKeyFile: files.key,
    caCertificateFile: files.clientCa,
    refreshIntervalMs: Math.max(1, Math.round((files.refreshInterval ?? 60) * 1000)),
  });
  return grpc.experimental.createCertificateProviderServerCredentials(provider, provider, true);
}
