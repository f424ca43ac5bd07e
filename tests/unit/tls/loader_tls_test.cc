// The bindings loader's `tls:` block: parsed with paths relative to the bindings file, checked
// (readable PEM, matching key), errors as file:line: field: message, one TLS per sink target.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "bindings/loader.h"
#include "support/test_certs.h"

namespace smtpbridge::dispatcher {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Binding(const std::string& name, const std::string& sink, const std::string& tls) {
  std::string yaml = "  - name: " + name + "\n    event: INBOUND_COMMAND\n    sink: " + sink + "\n";
  if (!tls.empty()) yaml += "    tls: " + tls + "\n";
  return yaml;
}

class LoaderTlsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(certs_.ok()); }
  LoadResult Load(const std::string& bindings) {
    return LoadBindingsText("bindings:\n" + bindings, (certs_.dir() / "bindings.yaml").string());
  }
  std::string file() const { return (certs_.dir() / "bindings.yaml").string(); }
  smtpbridge::testing::TestCertificates certs_;
};

TEST_F(LoaderTlsTest, BlockIsParsedWithPathsRelativeToTheFile) {
  const auto r = Load(Binding("a", "ipv4:127.0.0.1:1",
                              "{ca_file: ca.pem, cert_file: client.pem, key_file: client.key, "
                              "server_name: policy.internal, refresh_interval: 5s}") +
                      Binding("b", "ipv4:127.0.0.1:2", ""));
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(r.errors);
  const auto& a = r.set->bindings()[0];
  ASSERT_TRUE(a.tls);
  EXPECT_TRUE(a.tls->enabled);
  EXPECT_EQ(a.tls->ca_file, certs_.pem("ca"));
  EXPECT_EQ(a.tls->cert_file, certs_.pem("client"));
  EXPECT_EQ(a.tls->key_file, certs_.key("client"));
  EXPECT_EQ(a.tls->server_name, "policy.internal");
  EXPECT_EQ(a.tls->refresh_interval, std::chrono::seconds(5));
  EXPECT_FALSE(r.set->bindings()[1].tls);
}

TEST_F(LoaderTlsTest, ErrorsNameTheFileLineAndField) {
  auto r = Load(Binding("a", "ipv4:127.0.0.1:1", "{ca_file: ca.pem, colour: blue}"));
  EXPECT_THAT(r.errors,
              ElementsAre(file() + ":5: bindings[0].tls.colour: unknown key (expected one of: "
                                   "enabled, ca_file, cert_file, key_file, server_name, "
                                   "refresh_interval)"));
  r = Load(Binding("a", "ipv4:127.0.0.1:1", "{ca_file: missing.pem}"));
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_THAT(r.errors[0], HasSubstr(file() + ":5: bindings[0].tls: tls ca_file: cannot read "));
  EXPECT_THAT(r.errors[0], HasSubstr("missing.pem"));
  r = Load(Binding("a", "ipv4:127.0.0.1:1", "{cert_file: client.pem}"));
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_THAT(r.errors[0], HasSubstr("cert_file and key_file go together"));
  r = Load(Binding("a", "ipv4:127.0.0.1:1", "{cert_file: client.pem, key_file: other.key}"));
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_THAT(r.errors[0], HasSubstr("is not the key of"));
  r = Load(Binding("a", "ipv4:127.0.0.1:1", "{refresh_interval: 10ms}"));
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_THAT(
      r.errors[0],
      HasSubstr("bindings[0].tls.refresh_interval: \"10ms\" is not a duration of at least 1s"));
}

TEST_F(LoaderTlsTest, BindingsOfOneSinkMustAgreeOnTls) {
  auto r = Load(Binding("a", "ipv4:127.0.0.1:1", "{ca_file: ca.pem}") +
                Binding("b", "ipv4:127.0.0.1:1", ""));
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_THAT(r.errors[0],
              HasSubstr(file() + ":6: bindings[1].tls: sink \"ipv4:127.0.0.1:1\" already has "
                                 "other TLS settings (line 2)"));
  r = Load(Binding("a", "ipv4:127.0.0.1:1", "{ca_file: ca.pem}") +
           Binding("b", "ipv4:127.0.0.1:1", "{ca_file: ./ca.pem}"));
  EXPECT_TRUE(r.ok()) << ::testing::PrintToString(r.errors);
}

}  // namespace
}  // namespace smtpbridge::dispatcher
