// One set of TLS settings for every smtpbridge C++ part (sink → dispatcher, dispatcher server,
// dispatcher → workers, the C++ worker SDK), and the builders that turn it into gRPC credentials.
// Both sides use gRPC's FileWatcherCertificateProvider: the certificate, key and CA files are
// re-read every `refresh_interval`, so a rotated certificate (files replaced) is used for new
// handshakes without a restart and without touching open connections.
#pragma once

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <chrono>
#include <memory>
#include <string>

namespace smtpbridge::tls {

// gRPC re-reads the files at most once a second (it raises smaller intervals to 1 s).
inline constexpr std::chrono::seconds kDefaultRefreshInterval{60};
inline constexpr std::chrono::seconds kMinRefreshInterval{1};

struct TlsOptions {
  // Off: plaintext (loopback, or a mesh that encrypts).
  bool enabled = false;
  // PEM files. A server needs all three: its certificate chain and key, and the CA that signs
  // the client certificates it accepts (mutual TLS: a client without one is refused at the
  // handshake). A client: ca_file verifies the server (empty: the system's roots); cert_file +
  // key_file are its own certificate for mutual TLS (both or neither).
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  // Client only: the name the server's certificate must carry, instead of the target's host
  // (for `ipv4:` targets, and servers known by another name).
  std::string server_name;
  // How often the files are checked for a new version.
  std::chrono::seconds refresh_interval = kDefaultRefreshInterval;

  bool operator==(const TlsOptions&) const = default;
};

// Empty when `o` can serve (server) / connect (client); else one message naming the setting and
// file: missing, unreadable, not PEM, or a key that does not match its certificate. Checked
// up front because the file watcher itself only logs, and every handshake would then fail.
std::string ValidateServer(const TlsOptions& o);
std::string ValidateClient(const TlsOptions& o);

// Insecure credentials when !o.enabled. nullptr with `error` when the settings do not validate.
std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const TlsOptions& o,
                                                               std::string* error);
std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(const TlsOptions& o,
                                                                 std::string* error);
// The channel arguments a client's TLS settings need (the server-name override).
void ApplyChannelArgs(const TlsOptions& o, grpc::ChannelArguments* args);

}  // namespace smtpbridge::tls
