#include "support/test_certs.h"

#include <cstdlib>
#include <system_error>

namespace smtpbridge::testing {
namespace {

constexpr const char* kNewKey = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

}  // namespace

TestCertificates::TestCertificates() {
  ok_ = Run(std::string("openssl req -x509") + kNewKey +
            " -keyout ca.key -out ca.pem -days 2 -subj /CN=smtpbridge-test-ca") &&
        Run(std::string("openssl req -x509") + kNewKey +
            " -keyout other-ca.key -out other-ca.pem -days 2 -subj /CN=smtpbridge-other-ca") &&
        Issue("server", "localhost") && Issue("client", "test-client") &&
        Issue("expired", "expired-client", "ca", -1) && Issue("other", "other-client", "other-ca");
}

bool TestCertificates::Issue(const std::string& name, const std::string& cn, const std::string& ca,
                             int days, const std::string& san) {
  dir_.Write(name + ".ext", "subjectAltName=" + san + "\n");
  return Run("openssl req" + std::string(kNewKey) + " -keyout " + name + ".key -out " + name +
             ".csr -subj /CN=" + cn + " && openssl x509 -req -in " + name + ".csr -CA " + ca +
             ".pem -CAkey " + ca + ".key -CAcreateserial -days " + std::to_string(days) +
             " -extfile " + name + ".ext -out " + name + ".pem");
}

bool TestCertificates::Replace(const std::string& to, const std::string& from) const {
  std::error_code ec;
  for (const char* ext : {".key", ".pem"}) {
    const auto src = dir_.path() / (from + ext);
    const auto tmp = dir_.path() / (to + ext + ".new");
    std::filesystem::copy_file(src, tmp, std::filesystem::copy_options::overwrite_existing, ec);
    if (ec) return false;
    std::filesystem::rename(tmp, dir_.path() / (to + ext), ec);
    if (ec) return false;
  }
  return true;
}

bool TestCertificates::Run(const std::string& script) const {
  const std::string command =
      "(cd '" + dir_.path().string() + "' && " + script + ") >/dev/null 2>&1";
  return std::system(command.c_str()) == 0;
}

}  // namespace smtpbridge::testing
