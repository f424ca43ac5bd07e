// TLS to the dispatcher: mutual TLS against an in-process server that requires a client
// certificate, with certificates made by the openssl command for this test only.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <future>
#include <sstream>

#include <grpcpp/security/server_credentials.h>
#include <prometheus/registry.h>

#include "sink_test_util.h"
#include "smtpbridge/sink/sink_factory.h"
#include "support/temp_dir.h"
#include "test_dispatcher.h"

namespace smtpbridge::sink::testing {
namespace {

std::string Read(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA.
class Certificates {
 public:
  Certificates() {
    const std::string d = dir_.path().string();
    dir_.Write("san.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    const std::string key = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    const std::string script =
        "cd '" + d + "' && "
        "openssl req -x509" + key + " -keyout ca.key -out ca.pem -days 2 -subj /CN=sink-test-ca && "
        "openssl req" + key + " -keyout server.key -out server.csr -subj /CN=localhost && "
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2"
        " -extfile san.ext -out server.pem && "
        "openssl req" + key + " -keyout client.key -out client.csr -subj /CN=sink-test-host && "
        "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2"
        " -out client.pem";
    ok_ = std::system(("(" + script + ") >/dev/null 2>&1").c_str()) == 0;
  }
  bool ok() const { return ok_; }
  std::string path(const std::string& name) const { return (dir_.path() / name).string(); }

  std::shared_ptr<grpc::ServerCredentials> ServerRequiringClientCert() const {
    grpc::SslServerCredentialsOptions o(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    o.pem_root_certs = Read(path("ca.pem"));
    o.pem_key_cert_pairs.push_back({Read(path("server.key")), Read(path("server.pem"))});
    return grpc::SslServerCredentials(o);
  }

 private:
  smtpbridge::testing::TempDir dir_;
  bool ok_ = false;
};

Evaluation EvaluateAndWait(Sink& sink, v1::Event event) {
  auto promise = std::make_shared<std::promise<Evaluation>>();
  auto future = promise->get_future();
  sink.Evaluate(std::move(event), std::chrono::seconds(5),
                [promise](Evaluation e) { promise->set_value(std::move(e)); });
  if (future.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    ADD_FAILURE() << "the sink never answered";
    return {};
  }
  return future.get();
}

SinkOptions TlsOptionsFor(const TestDispatcher& dispatcher, const Certificates& certs,
                          bool client_cert) {
  SinkOptions o;
  o.dispatcher_target = dispatcher.target();
  o.metrics_registry = std::make_shared<prometheus::Registry>();
  o.interests.enabled = false;
  o.tls.enabled = true;
  o.tls.ca_file = certs.path("ca.pem");
  if (client_cert) {
    o.tls.cert_file = certs.path("client.pem");
    o.tls.key_file = certs.path("client.key");
  }
  return o;
}

TEST(TlsSink, MutualTlsReachesTheDispatcher) {
  Certificates certs;
  ASSERT_TRUE(certs.ok()) << "the openssl command failed";
  TestDispatcher dispatcher("127.0.0.1:0", certs.ServerRequiringClientCert());
  auto sink = MakeSink(TlsOptionsFor(dispatcher, certs, /*client_cert=*/true));
  const Evaluation e = EvaluateAndWait(*sink, Rcpt("reject@example.com"));
  EXPECT_EQ(e.source, VerdictSource::kDispatcher) << FallbackReasonName(e.reason);
  EXPECT_EQ(e.verdict.action(), v1::ACTION_REJECT);
  sink->Shutdown();
}

TEST(TlsSink, WithoutAClientCertificateTheFallbackAnswers) {
  Certificates certs;
  ASSERT_TRUE(certs.ok()) << "the openssl command failed";
  TestDispatcher dispatcher("127.0.0.1:0", certs.ServerRequiringClientCert());
  auto sink = MakeSink(TlsOptionsFor(dispatcher, certs, /*client_cert=*/false));
  const Evaluation e = EvaluateAndWait(*sink, Rcpt("reject@example.com"));
  EXPECT_EQ(e.source, VerdictSource::kDefault);
  EXPECT_EQ(e.reason, FallbackReason::kUnavailable);
  EXPECT_EQ(dispatcher.evaluations(), 0);
  sink->Shutdown();
}

TEST(TlsSink, PlaintextSinkCannotTalkToATlsDispatcher) {
  Certificates certs;
  ASSERT_TRUE(certs.ok()) << "the openssl command failed";
  TestDispatcher dispatcher("127.0.0.1:0", certs.ServerRequiringClientCert());
  SinkOptions o = TlsOptionsFor(dispatcher, certs, true);
  o.tls = TlsOptions{};
  auto sink = MakeSink(o);
  const Evaluation e = EvaluateAndWait(*sink, Rcpt("reject@example.com"));
  EXPECT_EQ(e.source, VerdictSource::kDefault);
  EXPECT_EQ(dispatcher.evaluations(), 0);
  sink->Shutdown();
}

TEST(TlsSink, UnreadableCertificateIsAnErrorAtStart) {
  SinkOptions o;
  o.tls.enabled = true;
  o.tls.ca_file = "/nonexistent/ca.pem";
  try {
    MakeSink(o);
    ADD_FAILURE() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/ca.pem"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace smtpbridge::sink::testing
