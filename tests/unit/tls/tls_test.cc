// Mutual TLS on every C++ hop, in one process over loopback: the dispatcher's server (client
// certificate required), its worker channels (per binding or per dispatcher, with a server-name
// override) and the C++ worker SDK's server. A valid client is served; a client without a
// certificate, with an expired one, from another CA, or in plaintext is refused at the
// handshake; a certificate replaced on disk is used for new handshakes while the traffic on
// open connections goes on with no failed event.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "server/dispatcher_app.h"
#include "smtpbridge/tls/tls_options.h"
#include "smtpbridge/v1/dispatcher.grpc.pb.h"
#include "smtpbridge/v1/names.h"
#include "smtpbridge/v1/sink.grpc.pb.h"
#include "smtpbridge/worker/worker.h"
#include "support/test_certs.h"

namespace smtpbridge::dispatcher {
namespace {

using smtpbridge::testing::TestCertificates;

constexpr auto kWait = std::chrono::seconds(20);

tls::TlsOptions ServerTls(const TestCertificates& c, const std::string& name) {
  tls::TlsOptions o;
  o.enabled = true;
  o.ca_file = c.pem("ca");
  o.cert_file = c.pem(name);
  o.key_file = c.key(name);
  o.refresh_interval = std::chrono::seconds(1);  // rotation tests wait for it
  return o;
}

// Verifies the server against the test CA; presents `name`'s certificate ("": none).
tls::TlsOptions ClientTls(const TestCertificates& c, const std::string& name) {
  tls::TlsOptions o;
  o.enabled = true;
  o.ca_file = c.pem("ca");
  if (!name.empty()) {
    o.cert_file = c.pem(name);
    o.key_file = c.key(name);
  }
  return o;
}

// A channel with its own connection (no subchannel shared with earlier channels), so every
// one makes its own handshake. `o` disabled: plaintext.
std::shared_ptr<grpc::Channel> Connect(const std::string& address, const tls::TlsOptions& o) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  tls::ApplyChannelArgs(o, &args);
  std::string error;
  auto credentials = tls::MakeChannelCredentials(o, &error);
  EXPECT_TRUE(credentials) << error;
  if (!credentials) credentials = grpc::InsecureChannelCredentials();
  return grpc::CreateCustomChannel("ipv4:" + address, credentials, args);
}

v1::Event Rcpt(const std::string& address) {
  v1::Event e;
  e.set_event_id("e1");
  e.set_type(v1::EVENT_TYPE_INBOUND_COMMAND);
  e.mutable_session()->set_instance(1);
  e.mutable_command()->set_keyword("RCPT");
  e.mutable_command()->set_argument("TO:<" + address + ">");
  e.mutable_envelope()->set_recipient(address);
  *e.mutable_budget() = v1::ToProtoDuration(std::chrono::seconds(10));
  return e;
}

std::string PeerCommonName(const grpc::ClientContext& context) {
  const auto values = context.auth_context()->FindPropertyValues("x509_common_name");
  return values.empty() ? "" : std::string(values[0].data(), values[0].size());
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(certs_.ok()) << "the openssl command failed";
    ASSERT_TRUE(certs_.Issue("rotated", "rotated-server"));
    ASSERT_TRUE(certs_.Issue("policy", "policy.internal", "ca", 2, "DNS:policy.internal"));
    // What the servers serve, copies so a test can replace them.
    ASSERT_TRUE(certs_.Replace("dispatcher", "server"));
    ASSERT_TRUE(certs_.Replace("worker", "server"));
  }
  void TearDown() override {
    if (app_) app_->Shutdown();
    if (worker_) worker_->Shutdown();
  }

  // A C++ SDK worker serving mutual TLS with `cert`: rejects blocked@example.com.
  void StartWorker(const std::string& cert) {
    worker::WorkerOptions options;
    options.name = "tls-worker";
    options.handle_signals = false;
    options.tls = ServerTls(certs_, cert);
    worker_ = std::make_unique<worker::Worker>(options);
    worker_->On(v1::EVENT_TYPE_INBOUND_COMMAND, "RCPT", [this](const worker::EventContext& ctx) {
      ++worker_calls_;
      if (ctx.recipient() == "blocked@example.com") {
        return worker::Verdict::Reject(550, "5.7.1", "Recipient blocked");
      }
      return worker::Verdict::Continue();
    });
    worker_address_ = "127.0.0.1:" + std::to_string(worker_->Start("127.0.0.1:0"));
  }

  // A dispatcher with one RCPT binding to the worker; `binding_tls` is the binding's `tls:`
  // block (YAML flow map, "" for none).
  void StartDispatcher(const std::string& binding_tls, AppOptions options = {}) {
    std::string yaml =
        "bindings:\n"
        "  - name: rcpt\n"
        "    event: INBOUND_COMMAND\n"
        "    rule: RCPT\n"
        "    sink: ipv4:" +
        worker_address_ +
        "\n"
        "    timeout: 5s\n";
    if (!binding_tls.empty()) yaml += "    tls: " + binding_tls + "\n";
    options.listen = "127.0.0.1:0";
    options.bindings_path = (certs_.dir() / "bindings.yaml").string();
    options.watch_interval = std::chrono::milliseconds(0);
    std::ofstream(options.bindings_path) << yaml;
    std::vector<std::string> errors;
    app_ = DispatcherApp::Create(options, &errors);
    ASSERT_TRUE(app_) << ::testing::PrintToString(errors);
    std::string error;
    ASSERT_TRUE(app_->Start(&error)) << error;
  }

  // The binding block that reaches the worker by the name in its "policy" certificate.
  std::string PolicyBindingTls() const {
    return "{ca_file: ca.pem, cert_file: client.pem, key_file: client.key, server_name: "
           "policy.internal}";
  }

  static grpc::Status Evaluate(v1::Dispatcher::Stub& stub, const std::string& recipient,
                               v1::EvaluateResponse* response, std::string* peer = nullptr) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kWait);
    v1::EvaluateRequest request;
    request.set_explain(true);
    *request.mutable_event() = Rcpt(recipient);
    auto status = stub.Evaluate(&context, request, response);
    if (peer && status.ok()) *peer = PeerCommonName(context);
    return status;
  }

  static grpc::Status CallWorker(const std::shared_ptr<grpc::Channel>& channel,
                                 std::string* peer = nullptr) {
    auto stub = v1::PolicySink::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kWait);
    v1::SinkRequest request;
    *request.mutable_event() = Rcpt("blocked@example.com");
    v1::Verdict verdict;
    auto status = stub->OnEvent(&context, request, &verdict);
    if (status.ok() && verdict.action() != v1::ACTION_REJECT)
      return grpc::Status(grpc::StatusCode::INTERNAL, "not rejected");
    if (peer && status.ok()) *peer = PeerCommonName(context);
    return status;
  }

  // Sends events over one open connection until stopped; counts those not answered by the
  // worker (a failed RPC, or a worker call that did not succeed).
  class Traffic {
   public:
    Traffic(std::shared_ptr<grpc::Channel> channel) : stub_(v1::Dispatcher::NewStub(channel)) {
      thread_ = std::thread([this] {
        while (!stop_) {
          v1::EvaluateResponse response;
          const auto status = Evaluate(*stub_, "blocked@example.com", &response);
          const bool answered = status.ok() && response.outcomes_size() == 1 &&
                                response.outcomes(0).kind() == v1::SINK_OUTCOME_KIND_ANSWERED &&
                                response.verdict().action() == v1::ACTION_REJECT;
          (answered ? sent_ : failed_)++;
        }
      });
    }
    ~Traffic() { Stop(); }
    void Stop() {
      stop_ = true;
      if (thread_.joinable()) thread_.join();
    }
    // Waits until `n` more events have been answered (bounded).
    bool AtLeastMore(int n) {
      const int target = sent_ + n;
      const auto until = std::chrono::steady_clock::now() + kWait;
      while (sent_ < target && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      return sent_ >= target;
    }
    int sent() const { return sent_; }
    int failed() const { return failed_; }

   private:
    std::unique_ptr<v1::Dispatcher::Stub> stub_;
    std::atomic<bool> stop_{false};
    std::atomic<int> sent_{0};
    std::atomic<int> failed_{0};
    std::thread thread_;
  };

  // Polls fresh connections until one presents `common_name` (bounded); `call` makes one call
  // on a channel and reports the peer's common name.
  template <typename Call>
  static bool EventuallyPresents(const std::string& common_name, Call call) {
    const auto until = std::chrono::steady_clock::now() + kWait;
    while (std::chrono::steady_clock::now() < until) {
      std::string peer;
      if (call(&peer).ok() && peer == common_name) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  TestCertificates certs_;
  std::unique_ptr<worker::Worker> worker_;
  std::string worker_address_;
  std::atomic<int> worker_calls_{0};
  std::unique_ptr<DispatcherApp> app_;
};

TEST_F(TlsTest, DispatcherServesAValidClientAndCallsItsWorkerOverMutualTls) {
  StartWorker("policy");
  AppOptions options;
  options.tls = ServerTls(certs_, "dispatcher");
  StartDispatcher(PolicyBindingTls(), options);
  auto stub = v1::Dispatcher::NewStub(Connect(app_->address(), ClientTls(certs_, "client")));
  v1::EvaluateResponse response;
  std::string peer;
  ASSERT_TRUE(Evaluate(*stub, "blocked@example.com", &response, &peer).ok());
  EXPECT_EQ(peer, "localhost");
  EXPECT_EQ(response.verdict().action(), v1::ACTION_REJECT);
  ASSERT_EQ(response.outcomes_size(), 1);
  EXPECT_EQ(response.outcomes(0).kind(), v1::SINK_OUTCOME_KIND_ANSWERED);
  EXPECT_EQ(worker_calls_.load(), 1);
}

TEST_F(TlsTest, DispatcherRefusesClientsWithoutAValidCertificateAtTheHandshake) {
  StartWorker("worker");
  AppOptions options;
  options.tls = ServerTls(certs_, "dispatcher");
  options.worker_tls = ClientTls(certs_, "client");
  StartDispatcher("", options);
  struct Case {
    const char* what;
    tls::TlsOptions tls;
  };
  const std::vector<Case> cases = {{"plaintext", tls::TlsOptions{}},
                                   {"no certificate", ClientTls(certs_, "")},
                                   {"expired certificate", ClientTls(certs_, "expired")},
                                   {"certificate from another CA", ClientTls(certs_, "other")}};
  for (const auto& c : cases) {
    auto stub = v1::Dispatcher::NewStub(Connect(app_->address(), c.tls));
    v1::EvaluateResponse response;
    EXPECT_EQ(Evaluate(*stub, "blocked@example.com", &response).error_code(),
              grpc::StatusCode::UNAVAILABLE)
        << c.what;
  }
  EXPECT_EQ(worker_calls_.load(), 0);
  // The same server still serves a valid client.
  auto stub = v1::Dispatcher::NewStub(Connect(app_->address(), ClientTls(certs_, "client")));
  v1::EvaluateResponse response;
  ASSERT_TRUE(Evaluate(*stub, "blocked@example.com", &response).ok());
  EXPECT_EQ(response.verdict().action(), v1::ACTION_REJECT);
}

TEST_F(TlsTest, WorkerRefusesClientsWithoutAValidCertificateAtTheHandshake) {
  StartWorker("worker");
  const std::vector<std::pair<const char*, tls::TlsOptions>> cases = {
      {"plaintext", tls::TlsOptions{}},
      {"no certificate", ClientTls(certs_, "")},
      {"expired certificate", ClientTls(certs_, "expired")},
      {"certificate from another CA", ClientTls(certs_, "other")}};
  for (const auto& [what, options] : cases) {
    EXPECT_EQ(CallWorker(Connect(worker_address_, options)).error_code(),
              grpc::StatusCode::UNAVAILABLE)
        << what;
  }
  EXPECT_EQ(worker_calls_.load(), 0);
  std::string peer;
  ASSERT_TRUE(CallWorker(Connect(worker_address_, ClientTls(certs_, "client")), &peer).ok());
  EXPECT_EQ(peer, "localhost");
  EXPECT_EQ(worker_calls_.load(), 1);
}

TEST_F(TlsTest, BindingWithoutTheServerNameOverrideCannotVerifyTheWorker) {
  StartWorker("policy");  // its certificate names only policy.internal, not 127.0.0.1
  StartDispatcher("{ca_file: ca.pem, cert_file: client.pem, key_file: client.key}");
  auto stub = v1::Dispatcher::NewStub(Connect(app_->address(), tls::TlsOptions{}));
  v1::EvaluateResponse response;
  ASSERT_TRUE(Evaluate(*stub, "blocked@example.com", &response).ok());
  ASSERT_EQ(response.outcomes_size(), 1);
  EXPECT_NE(response.outcomes(0).kind(), v1::SINK_OUTCOME_KIND_ANSWERED);
  EXPECT_EQ(response.verdict().action(), v1::ACTION_CONTINUE);  // on_error: continue
  EXPECT_EQ(worker_calls_.load(), 0);
}

TEST_F(TlsTest, DispatcherWideWorkerTlsAppliesToBindingsWithoutTheirOwn) {
  StartWorker("worker");
  AppOptions options;
  options.worker_tls = ClientTls(certs_, "client");
  StartDispatcher("", options);
  auto stub = v1::Dispatcher::NewStub(Connect(app_->address(), tls::TlsOptions{}));
  v1::EvaluateResponse response;
  ASSERT_TRUE(Evaluate(*stub, "blocked@example.com", &response).ok());
  ASSERT_EQ(response.outcomes_size(), 1);
  EXPECT_EQ(response.outcomes(0).kind(), v1::SINK_OUTCOME_KIND_ANSWERED);
  EXPECT_EQ(worker_calls_.load(), 1);
}

TEST_F(TlsTest, DispatcherPicksUpARotatedCertificateWhileTrafficFlows) {
  StartWorker("worker");
  AppOptions options;
  options.tls = ServerTls(certs_, "dispatcher");
  options.worker_tls = ClientTls(certs_, "client");
  StartDispatcher("", options);
  Traffic traffic(Connect(app_->address(), ClientTls(certs_, "client")));
  ASSERT_TRUE(traffic.AtLeastMore(5));
  ASSERT_TRUE(certs_.Replace("dispatcher", "rotated"));
  EXPECT_TRUE(EventuallyPresents("rotated-server", [&](std::string* peer) {
    auto stub = v1::Dispatcher::NewStub(Connect(app_->address(), ClientTls(certs_, "client")));
    v1::EvaluateResponse response;
    return Evaluate(*stub, "friend@example.com", &response, peer);
  }));
  EXPECT_TRUE(traffic.AtLeastMore(5));  // the open connection still carries events
  traffic.Stop();
  EXPECT_EQ(traffic.failed(), 0);
}

TEST_F(TlsTest, WorkerPicksUpARotatedCertificateWhileTrafficFlows) {
  StartWorker("worker");
  AppOptions options;
  options.worker_tls = ClientTls(certs_, "client");
  StartDispatcher("", options);
  Traffic traffic(Connect(app_->address(), tls::TlsOptions{}));
  ASSERT_TRUE(traffic.AtLeastMore(5));
  ASSERT_TRUE(certs_.Replace("worker", "rotated"));
  EXPECT_TRUE(EventuallyPresents("rotated-server", [&](std::string* peer) {
    return CallWorker(Connect(worker_address_, ClientTls(certs_, "client")), peer);
  }));
  EXPECT_TRUE(traffic.AtLeastMore(5));
  traffic.Stop();
  EXPECT_EQ(traffic.failed(), 0);
}

TEST_F(TlsTest, UnusableServerCertificateIsAnErrorAtStart) {
  AppOptions options;
  options.tls = ServerTls(certs_, "dispatcher");
  options.tls.key_file = certs_.key("other");
  options.listen = "127.0.0.1:0";
  options.bindings_path = (certs_.dir() / "bindings.yaml").string();
  std::ofstream(options.bindings_path) << "bindings: []\n";
  std::vector<std::string> errors;
  auto app = DispatcherApp::Create(options, &errors);
  ASSERT_TRUE(app);
  std::string error;
  EXPECT_FALSE(app->Start(&error));
  EXPECT_THAT(error, ::testing::HasSubstr("is not the key of"));

  worker::WorkerOptions w;
  w.handle_signals = false;
  w.tls = ServerTls(certs_, "worker");
  w.tls.ca_file.clear();
  worker::Worker worker(w);
  EXPECT_THROW(worker.Start("127.0.0.1:0"), std::runtime_error);
}

}  // namespace
}  // namespace smtpbridge::dispatcher
