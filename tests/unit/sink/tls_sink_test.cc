// TLS to the dispatcher: mutual TLS against an in-process server that requires a client
// certificate, with certificates made by the openssl command for this test only
// (tests/support/test_certs.h).
#include <grpcpp/security/server_credentials.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <future>

#include "sink_test_util.h"
#include "smtpbridge/sink/sink_factory.h"
#include "support/test_certs.h"
#include "test_dispatcher.h"

namespace smtpbridge::sink::testing {
namespace {

// The shared test certificates (CA, server for 127.0.0.1, client, expired, other CA), served
// with the same credentials builder the dispatcher uses.
class Certificates : public smtpbridge::testing::TestCertificates {
 public:
  std::string path(const std::string& file) const { return (dir() / file).string(); }
  std::shared_ptr<grpc::ServerCredentials> ServerRequiringClientCert() const {
    tls::TlsOptions o;
    o.enabled = true;
    o.cert_file = pem("server");
    o.key_file = key("server");
    o.ca_file = pem("ca");
    std::string error;
    auto credentials = tls::MakeServerCredentials(o, &error);
    EXPECT_TRUE(credentials) << error;
    return credentials;
  }
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
  o.tls.ca_file = certs.pem("ca");
  if (client_cert) {
    o.tls.cert_file = certs.pem("client");
    o.tls.key_file = certs.key("client");
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

TEST(TlsSink, ExpiredOrForeignClientCertificatesAreRefused) {
  Certificates certs;
  ASSERT_TRUE(certs.ok()) << "the openssl command failed";
  TestDispatcher dispatcher("127.0.0.1:0", certs.ServerRequiringClientCert());
  for (const std::string name : {"expired", "other"}) {
    SinkOptions o = TlsOptionsFor(dispatcher, certs, /*client_cert=*/true);
    o.tls.cert_file = certs.pem(name);
    o.tls.key_file = certs.key(name);
    auto sink = MakeSink(o);
    const Evaluation e = EvaluateAndWait(*sink, Rcpt("reject@example.com"));
    EXPECT_EQ(e.source, VerdictSource::kDefault) << name;
    EXPECT_EQ(e.reason, FallbackReason::kUnavailable) << name;
    sink->Shutdown();
  }
  EXPECT_EQ(dispatcher.evaluations(), 0);
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

TEST(TlsSink, KeyThatDoesNotMatchTheCertificateIsAnErrorAtStart) {
  Certificates certs;
  ASSERT_TRUE(certs.ok()) << "the openssl command failed";
  SinkOptions o;
  o.tls.enabled = true;
  o.tls.cert_file = certs.pem("client");
  o.tls.key_file = certs.key("other");
  try {
    MakeSink(o);
    ADD_FAILURE() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("is not the key of"), std::string::npos) << e.what();
  }
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
