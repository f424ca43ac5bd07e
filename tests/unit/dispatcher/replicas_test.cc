// Two dispatchers behind one client channel with the shared configuration
// (smtpbridge/grpc/client_channel.h), as sinks see them behind a headless Service: events spread
// over both, and a dispatcher that drains (health NOT_SERVING over Watch) gets no new event while
// it is still up, and no event fails.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "server/dispatcher_app.h"
#include "smtpbridge/grpc/client_channel.h"
#include "smtpbridge/v1/dispatcher.grpc.pb.h"
#include "smtpbridge/v1/names.h"
#include "smtpbridge/v1/sink.grpc.pb.h"
#include "support/temp_dir.h"

namespace smtpbridge::dispatcher {
namespace {

// Tags every verdict with its own name, so the answer says which dispatcher's worker it came from.
class NamedWorker final : public v1::PolicySink::Service {
 public:
  explicit NamedWorker(std::string name) : name_(std::move(name)) {}
  grpc::Status OnEvent(grpc::ServerContext*, const v1::SinkRequest*,
                       v1::Verdict* verdict) override {
    verdict->set_action(v1::ACTION_CONTINUE);
    verdict->add_tags(name_);
    return grpc::Status::OK;
  }

 private:
  std::string name_;
};

// One dispatcher and the worker only it calls.
struct Replica {
  Replica(const std::string& name, smtpbridge::testing::TempDir& dir) : worker(name) {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&worker);
    worker_server = builder.BuildAndStart();
    const auto bindings = dir.Write(name + ".yaml",
                                    "bindings:\n"
                                    "  - name: tag\n"
                                    "    event: INBOUND_COMMAND\n"
                                    "    rule: RCPT\n"
                                    "    sink: ipv4:127.0.0.1:" +
                                        std::to_string(port) +
                                        "\n"
                                        "    timeout: 5s\n");
    AppOptions options;
    options.listen = "127.0.0.1:0";
    options.bindings_path = bindings.string();
    options.watch_interval = std::chrono::milliseconds(0);
    options.stream_handoff = std::chrono::seconds(10);  // held by the test's own stream
    options.drain_timeout = std::chrono::seconds(10);
    std::vector<std::string> errors;
    app = DispatcherApp::Create(options, &errors);
    std::string error;
    if (app && !app->Start(&error)) app.reset();
  }
  ~Replica() {
    if (app) app->Shutdown();
    worker_server->Shutdown();
  }

  NamedWorker worker;
  std::unique_ptr<grpc::Server> worker_server;
  std::unique_ptr<DispatcherApp> app;
};

v1::EvaluateRequest Rcpt() {
  v1::EvaluateRequest request;
  auto* e = request.mutable_event();
  e->set_event_id("e1");
  e->set_type(v1::EVENT_TYPE_INBOUND_COMMAND);
  e->mutable_session()->set_instance(1);
  e->mutable_command()->set_keyword("RCPT");
  e->mutable_command()->set_argument("TO:<a@example.com>");
  e->mutable_envelope()->set_recipient("a@example.com");
  *e->mutable_budget() = v1::ToProtoDuration(std::chrono::seconds(10));
  return request;
}

class TwoDispatchers : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(a_.app && b_.app);
    channel_ = grpc_client::CreateClientChannel(
        "ipv4:" + a_.app->address() + "," + b_.app->address(), grpc::InsecureChannelCredentials(),
        grpc_client::kDispatcherHealthService);
    stub_ = v1::Dispatcher::NewStub(channel_);
  }

  // The worker tag of the answer; "" when the call failed.
  std::string Evaluate() {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::EvaluateResponse response;
    if (!stub_->Evaluate(&context, Rcpt(), &response).ok() || response.verdict().tags_size() != 1)
      return "";
    return response.verdict().tags(0);
  }

  // Evaluates until `n` answers in a row came from `from` (bounded); false if one failed.
  bool RunFrom(const std::string& from, int n) {
    int run = 0;
    for (int i = 0; i < 5000 && run < n; ++i) {
      const std::string tag = Evaluate();
      if (tag.empty()) return false;
      run = tag == from ? run + 1 : 0;
      if (run == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return run >= n;
  }

  smtpbridge::testing::TempDir dir_;
  Replica a_{"A", dir_};
  Replica b_{"B", dir_};
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Dispatcher::Stub> stub_;
};

TEST_F(TwoDispatchers, EventsSpreadOverBoth) {
  ASSERT_TRUE(RunFrom("A", 1));
  ASSERT_TRUE(RunFrom("B", 1));
  int a = 0, b = 0;
  for (int i = 0; i < 40; ++i) {
    const std::string tag = Evaluate();
    ASSERT_FALSE(tag.empty());
    (tag == "A" ? a : b)++;
  }
  EXPECT_EQ(a, 20);
  EXPECT_EQ(b, 20);
}

TEST_F(TwoDispatchers, ADrainingDispatcherGetsNoNewEventsBeforeItCloses) {
  ASSERT_TRUE(RunFrom("A", 1));
  ASSERT_TRUE(RunFrom("B", 1));
  // A stream of our own on A holds A in its stream hand-off (up to 10 s) once it drains.
  auto direct = grpc::CreateChannel(a_.app->address(), grpc::InsecureChannelCredentials());
  auto direct_stub = v1::Dispatcher::NewStub(direct);
  grpc::ClientContext stream_context;
  auto stream = direct_stub->EvaluateStream(&stream_context);
  v1::EvaluateRequests first;
  *first.add_requests() = Rcpt();
  first.mutable_requests(0)->set_stream_id(1);
  ASSERT_TRUE(stream->Write(first));
  v1::EvaluateResponses answer;
  ASSERT_TRUE(stream->Read(&answer));

  auto stopped = std::async(std::launch::async, [this] { return a_.app->Shutdown(); });
  // A says NOT_SERVING (Check on its own channel) and is still up...
  auto health = grpc::health::v1::Health::NewStub(direct);
  bool not_serving = false;
  for (int i = 0; i < 5000 && !not_serving; ++i) {
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckResponse response;
    not_serving = health->Check(&context, {}, &response).ok() &&
                  response.status() == grpc::health::v1::HealthCheckResponse::NOT_SERVING;
    if (!not_serving) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(not_serving);
  // ...and the shared channel sends every event to B; none fails.
  EXPECT_TRUE(RunFrom("B", 200));
  // Our stream still works on A (it is draining, not closed).
  v1::EvaluateRequests second;
  *second.add_requests() = Rcpt();
  second.mutable_requests(0)->set_stream_id(2);
  ASSERT_TRUE(stream->Write(second));
  ASSERT_TRUE(stream->Read(&answer));
  ASSERT_EQ(answer.responses_size(), 1);
  EXPECT_EQ(answer.responses(0).stream_id(), 2u);
  // Let A go: it ends at once, drained.
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
  ASSERT_EQ(stopped.wait_for(std::chrono::seconds(8)), std::future_status::ready);
  EXPECT_TRUE(stopped.get());
  for (int i = 0; i < 20; ++i) EXPECT_EQ(Evaluate(), "B");
}

}  // namespace
}  // namespace smtpbridge::dispatcher
