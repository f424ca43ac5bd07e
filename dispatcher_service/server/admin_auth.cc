#include "server/admin_auth.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/auth_context.h>
#include <openssl/crypto.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace smtpbridge::dispatcher {
namespace {

std::string Trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

bool OverTls(const grpc::ServerContext& context) {
  const auto auth = context.auth_context();
  if (!auth) return false;
  for (const auto& value : auth->FindPropertyValues(GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME)) {
    if (std::string(value.data(), value.size()) == "ssl") return true;
  }
  return false;
}

}  // namespace

bool LoadAdminToken(const std::string& file, std::string* token, std::string* error) {
  if (!file.empty()) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      *error = "--admin-token-file: cannot read " + file;
      return false;
    }
    std::stringstream text;
    text << in.rdbuf();
    *token = Trim(text.str());
    if (token->empty()) {
      *error = "--admin-token-file: " + file + " holds no token";
      return false;
    }
    return true;
  }
  const char* env = std::getenv(kAdminTokenEnv);
  *token = env ? Trim(env) : "";
  return true;
}

bool IsLoopbackPeer(const std::string& peer) {
  return peer.rfind("ipv4:127.", 0) == 0 || peer.rfind("ipv6:[::1]:", 0) == 0 ||
         peer.rfind("ipv6:[::ffff:127.", 0) == 0 || peer.rfind("unix:", 0) == 0;
}

grpc::Status AdminAuth::Authorize(const grpc::ServerContext& context) const {
  if (token_.empty()) return grpc::Status::OK;
  if (!OverTls(context) && !IsLoopbackPeer(context.peer())) {
    return grpc::Status(
        grpc::StatusCode::UNAUTHENTICATED,
        "admin token refused over plaintext from " + context.peer() +
            ": serve TLS (--tls-cert, --tls-key, --tls-client-ca) or call from loopback");
  }
  const std::string expected = "Bearer " + token_;
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find("authorization");
  // Constant-time compare: the token is a secret.
  const bool ok = it != metadata.end() && it->second.size() == expected.size() &&
                  CRYPTO_memcmp(it->second.data(), expected.data(), expected.size()) == 0;
  if (ok) return grpc::Status::OK;
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                      "this call needs \"authorization: Bearer <token>\" (the admin token)");
}

}  // namespace smtpbridge::dispatcher
