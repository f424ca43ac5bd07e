// Certificates for TLS tests, made with the openssl command in a temp dir at test time (EC P-256,
// fast): one CA and what it signs, an expired certificate, and a second CA with a certificate of
// its own. Files are <name>.pem / <name>.key under dir().
//
//   ca            the CA every server and the accepted clients chain to
//   server        CN=localhost, SAN IP:127.0.0.1 and DNS:localhost
//   client        CN=test-client
//   expired       CN=expired-client, not valid any more
//   other-ca      a second CA nothing trusts
//   other         CN=other-client, signed by other-ca
#pragma once

#include <filesystem>
#include <string>

#include "support/temp_dir.h"

namespace smtpbridge::testing {

class TestCertificates {
 public:
  TestCertificates();
  // False when the openssl command failed (tests ASSERT on it).
  bool ok() const { return ok_; }
  const std::filesystem::path& dir() const { return dir_.path(); }
  std::string pem(const std::string& name) const {
    return (dir_.path() / (name + ".pem")).string();
  }
  std::string key(const std::string& name) const {
    return (dir_.path() / (name + ".key")).string();
  }

  // Issues <name>.pem/.key signed by `ca` with common name `cn` and subjectAltName `san`, valid
  // for `days` (negative: already expired). False when openssl failed.
  bool Issue(const std::string& name, const std::string& cn, const std::string& ca = "ca",
             int days = 2, const std::string& san = "IP:127.0.0.1,DNS:localhost");
  // Replaces <to>.pem/.key with copies of <from>'s, each by an atomic rename (how a secret
  // volume or cert-manager rotates them).
  bool Replace(const std::string& to, const std::string& from) const;

 private:
  bool Run(const std::string& script) const;

  TempDir dir_;
  bool ok_ = false;
};

}  // namespace smtpbridge::testing
