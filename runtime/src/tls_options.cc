#include "smtpbridge/tls/tls_options.h"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace smtpbridge::tls {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Bio = std::unique_ptr<BIO, BioFree>;
using Cert = std::unique_ptr<X509, X509Free>;
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream text;
  text << in.rdbuf();
  *out = text.str();
  return static_cast<bool>(in) || in.eof();
}

Bio MemoryBio(const std::string& pem) {
  return Bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// The first certificate of a PEM file; `error` set when the file is unreadable or has none.
Cert ReadCertificate(const std::string& path, const char* what, std::string* error) {
  std::string pem;
  if (!ReadFile(path, &pem) || pem.empty()) {
    *error = std::string(what) + ": cannot read " + path;
    return nullptr;
  }
  Bio bio = MemoryBio(pem);
  Cert cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) *error = std::string(what) + ": no PEM certificate in " + path;
  return cert;
}

std::string CheckPair(const TlsOptions& o, const char* cert_what, const char* key_what) {
  std::string error;
  Cert cert = ReadCertificate(o.cert_file, cert_what, &error);
  if (!cert) return error;
  std::string pem;
  if (!ReadFile(o.key_file, &pem) || pem.empty())
    return std::string(key_what) + ": cannot read " + o.key_file;
  Bio bio = MemoryBio(pem);
  Key key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return std::string(key_what) + ": no PEM private key in " + o.key_file;
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    return std::string(key_what) + ": " + o.key_file + " is not the key of " + o.cert_file;
  }
  return {};
}

unsigned int RefreshSeconds(const TlsOptions& o) {
  return static_cast<unsigned int>(std::max(o.refresh_interval, kMinRefreshInterval).count());
}

}  // namespace

std::string ValidateServer(const TlsOptions& o) {
  if (o.cert_file.empty()) return "tls cert: required to serve TLS";
  if (o.key_file.empty()) return "tls key: required to serve TLS";
  if (o.ca_file.empty())
    return "tls client CA: required (clients must present a certificate it signed)";
  if (std::string e = CheckPair(o, "tls cert", "tls key"); !e.empty()) return e;
  std::string error;
  if (!ReadCertificate(o.ca_file, "tls client CA", &error)) return error;
  return {};
}

std::string ValidateClient(const TlsOptions& o) {
  if (o.cert_file.empty() != o.key_file.empty()) {
    return "tls: cert_file and key_file go together (mutual TLS)";
  }
  if (!o.cert_file.empty()) {
    if (std::string e = CheckPair(o, "tls cert_file", "tls key_file"); !e.empty()) return e;
  }
  std::string error;
  if (!o.ca_file.empty() && !ReadCertificate(o.ca_file, "tls ca_file", &error)) return error;
  return {};
}

std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const TlsOptions& o,
                                                               std::string* error) {
  if (!o.enabled) return grpc::InsecureServerCredentials();
  if (std::string e = ValidateServer(o); !e.empty()) {
    *error = std::move(e);
    return nullptr;
  }
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      o.key_file, o.cert_file, o.ca_file, RefreshSeconds(o));
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  // Mutual TLS: no certificate, an expired one or one from another CA fails the handshake.
  options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  return grpc::experimental::TlsServerCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(const TlsOptions& o,
                                                                 std::string* error) {
  if (!o.enabled) return grpc::InsecureChannelCredentials();
  if (std::string e = ValidateClient(o); !e.empty()) {
    *error = std::move(e);
    return nullptr;
  }
  grpc::experimental::TlsChannelCredentialsOptions options;
  if (!o.ca_file.empty() || !o.cert_file.empty()) {
    options.set_certificate_provider(
        std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
            o.key_file, o.cert_file, o.ca_file, RefreshSeconds(o)));
  }
  // Without a CA file gRPC verifies the server against the system's roots.
  if (!o.ca_file.empty()) options.watch_root_certs();
  if (!o.cert_file.empty()) options.watch_identity_key_cert_pairs();
  return grpc::experimental::TlsCredentials(options);
}

void ApplyChannelArgs(const TlsOptions& o, grpc::ChannelArguments* args) {
  if (o.enabled && !o.server_name.empty()) args->SetSslTargetNameOverride(o.server_name);
}

}  // namespace smtpbridge::tls
