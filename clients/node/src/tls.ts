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

const providers = new WeakMap<grpc.ServerCredentials, grpc.experimental.CertificateProvider>();

/** Server credentials for listen(): mutual TLS from the three files, reloaded on change. */
export function tlsServerCredentials(files: TlsFiles): grpc.ServerCredentials {
  const provider = new grpc.experimental.FileWatcherCertificateProvider({
    certificateFile: files.cert,
    privateKeyFile: files.key,
    caCertificateFile: files.clientCa,
    refreshIntervalMs: Math.max(1, Math.round((files.refreshInterval ?? 60) * 1000)),
  });
  const creds = grpc.experimental.createCertificateProviderServerCredentials(provider, provider, true);
  providers.set(creds, provider);
  return creds;
}

/**
 * For credentials from tlsServerCredentials, once the server is bound: resolves when the provider
 * has read the files (its first read is asynchronous; a handshake before it would fail), rejects
 * when it could not. Other credentials resolve at once.
 */
export function tlsReady(creds: grpc.ServerCredentials): Promise<void> {
  const provider = providers.get(creds);
  if (!provider) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    let identity = false;
    let ca = false;
    const finish = (err?: Error) => {
      provider.removeIdentityCertificateListener(onIdentity);
      provider.removeCaCertificateListener(onCa);
      if (err) reject(err);
      else resolve();
    };
    const onIdentity = (u: grpc.experimental.IdentityCertificateUpdate | null) => {
      if (u === null) return finish(new Error("TLS certificate or key file unreadable"));
      identity = true;
      if (ca) finish();
    };
    const onCa = (u: grpc.experimental.CaCertificateUpdate | null) => {
      if (u === null) return finish(new Error("TLS client CA file unreadable"));
      ca = true;
      if (identity) finish();
    };
    provider.addIdentityCertificateListener(onIdentity);
    provider.addCaCertificateListener(onCa);
  });
}
