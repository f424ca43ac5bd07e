// The admin token: where it comes from (a file or the environment, never the command line, where
// every local user can read it with ps) and how a call proves it has it. Calls that reveal
// bindings (ListBindings, GetBindingStats, Reload's errors) or evaluate test events (Evaluate with
// explain) need "authorization: Bearer <token>" when a token is set; a token sent in plaintext
// from another host is refused, since anyone on the path could read it (loopback and unix
// sockets are fine). Shared by the dispatcher and bridgectl.
#pragma once

#include <grpcpp/server_context.h>

#include <string>

namespace smtpbridge::dispatcher {

inline constexpr const char* kAdminTokenEnv = "SMTPBRIDGE_ADMIN_TOKEN";

// The token from `file` (surrounding whitespace trimmed) when not empty, else from the
// environment variable SMTPBRIDGE_ADMIN_TOKEN; "" when neither is set. False with `error` when
// the file cannot be read or holds no token.
bool LoadAdminToken(const std::string& file, std::string* token, std::string* error);

// What a flag that used to take the token on the command line says now.
inline constexpr const char* kAdminTokenArgvRefused =
    "--admin-token is no longer accepted: a token on the command line is visible to every local "
    "user (ps, /proc/PID/cmdline). Put it in a file (--admin-token-file) or in the "
    "SMTPBRIDGE_ADMIN_TOKEN environment variable.";

class AdminAuth {
 public:
  explicit AdminAuth(std::string token) : token_(std::move(token)) {}
  bool enabled() const { return !token_.empty(); }
  // OK when no token is set, or the call carries it over TLS or from loopback; else
  // UNAUTHENTICATED saying which.
  grpc::Status Authorize(const grpc::ServerContext& context) const;

 private:
  std::string token_;
};

// "ipv4:127.0.0.1:5000", "ipv6:[::1]:5000", "unix:..." (gRPC's peer strings) are loopback.
bool IsLoopbackPeer(const std::string& peer);

}  // namespace smtpbridge::dispatcher
