// The real gRPC server (DispatcherApp) on port 0 with a real PolicySink worker in the same
// process, over loopback: Evaluate, GetInterests, the Admin API and its token.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "server/dispatcher_app.h"
#include "server/health_service.h"
#include "smtpbridge/v1/admin.grpc.pb.h"
#include "smtpbridge/v1/dispatcher.grpc.pb.h"
#include "smtpbridge/v1/names.h"
#include "smtpbridge/v1/sink.grpc.pb.h"
#include "stream_adapter.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace smtpbridge::dispatcher {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Rejects the recipient named by the binding's "blocked" property; tags everything else.
class BlocklistWorker : public v1::PolicySink::Service {
 public:
  grpc::Status OnEvent(grpc::ServerContext*, const v1::SinkRequest* request,
                       v1::Verdict* verdict) override {
    ++calls;
    const auto& props = request->binding().sink_properties();
    if (props.count("answer_354")) {  // an invalid verdict: RESPOND 354
      verdict->set_action(v1::ACTION_RESPOND);
      verdict->mutable_reply()->set_code(354);
      verdict->mutable_reply()->add_lines("go ahead\r\n250 forged");
      return grpc::Status::OK;
    }
    const auto blocked = props.find("blocked");
    if (blocked != props.end() && request->event().envelope().recipient() == blocked->second) {
      verdict->set_action(v1::ACTION_REJECT);
      verdict->mutable_reply()->set_code(550);
      verdict->mutable_reply()->set_enhanced_code("5.7.1");
      verdict->mutable_reply()->add_lines("Recipient blocked");
      verdict->set_reason("blocklisted");
    } else {
      verdict->set_action(v1::ACTION_CONTINUE);
      verdict->add_tags("checked-by-" + request->binding().name());
    }
    return grpc::Status::OK;
  }
  std::atomic<int> calls{0};
};

// Run over both worker transports: the worker serves OnEvents too (stream_adapter.h).
class ServerTest : public ::testing::TestWithParam<WorkerTransport> {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&worker_);
    worker_server_ = builder.BuildAndStart();
    ASSERT_TRUE(worker_server_);
    ASSERT_GT(port, 0);
    sink_ = "ipv4:127.0.0.1:" + std::to_string(port);
    bindings_path_ = dir_.Write("bindings.yaml", Bindings(/*with_eod=*/true)).string();

    AppOptions options;
    options.listen = "127.0.0.1:0";
    options.bindings_path = bindings_path_;
    options.admin_token = "s3cret";
    options.watch_interval = std::chrono::milliseconds(0);
    options.pools.transport = GetParam();
    std::vector<std::string> errors;
    app_ = DispatcherApp::Create(options, &errors);
    ASSERT_TRUE(app_) << ::testing::PrintToString(errors);
    std::string error;
    ASSERT_TRUE(app_->Start(&error)) << error;
    EXPECT_THAT(app_->address(), ::testing::StartsWith("127.0.0.1:"));
    EXPECT_NE(app_->address(), "127.0.0.1:0");
    auto channel = grpc::CreateChannel(app_->address(), grpc::InsecureChannelCredentials());
    dispatcher_ = v1::Dispatcher::NewStub(channel);
    admin_ = v1::Admin::NewStub(channel);
  }

  void TearDown() override {
    if (app_) {
      EXPECT_TRUE(app_->Shutdown());
    }
    if (worker_server_) worker_server_->Shutdown();
  }

  std::string Bindings(bool with_eod) const {
    std::string yaml =
        "bindings:\n"
        "  - name: reject-blocked-rcpt\n"
        "    event: INBOUND_COMMAND\n"
        "    rule: RCPT\n"
        "    priority: PRIO_HIGH\n"
        "    sink: " +
        sink_ +
        "\n"
        "    sink_properties: {blocked: blocked@example.com}\n"
        "    timeout: 5s\n";
    if (with_eod) {
      yaml +=
          "  - name: eod\n"
          "    event: INBOUND_COMMAND\n"
          "    rule: _EOD\n"
          "    sink: " +
          sink_ +
          "\n"
          "    body_limit: 1000\n"
          "    timeout: 5s\n";
    }
    return yaml;
  }

  static v1::EvaluateRequest Rcpt(const std::string& address) {
    v1::EvaluateRequest request;
    request.set_explain(true);
    auto* e = request.mutable_event();
    e->set_event_id("e1");
    e->set_type(v1::EVENT_TYPE_INBOUND_COMMAND);
    e->mutable_session()->set_instance(1);
    e->mutable_command()->set_keyword("RCPT");
    e->mutable_command()->set_argument("TO:<" + address + ">");
    e->mutable_envelope()->set_recipient(address);
    *e->mutable_budget() = v1::ToProtoDuration(std::chrono::seconds(10));
    return request;
  }

  grpc::Status Call(v1::EvaluateRequest request, v1::EvaluateResponse* response) {
    grpc::ClientContext context;
    Authorize(&context);  // explained events need the admin token
    return dispatcher_->Evaluate(&context, request, response);
  }

  void Authorize(grpc::ClientContext* context) {
    context->AddMetadata("authorization", "Bearer s3cret");
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  }

  smtpbridge::testing::TempDir dir_;
  WithOnEvents<BlocklistWorker> worker_;
  std::unique_ptr<grpc::Server> worker_server_;
  std::string sink_;
  std::string bindings_path_;
  std::unique_ptr<DispatcherApp> app_;
  std::unique_ptr<v1::Dispatcher::Stub> dispatcher_;
  std::unique_ptr<v1::Admin::Stub> admin_;
};

INSTANTIATE_TEST_SUITE_P(Transports, ServerTest,
                         ::testing::Values(WorkerTransport::kStream, WorkerTransport::kUnary),
                         [](const auto& info) {
                           return info.param == WorkerTransport::kStream ? "Stream" : "Unary";
                         });

TEST_P(ServerTest, EvaluateRoundTripThroughARealWorker) {
  v1::EvaluateResponse rejected;
  ASSERT_TRUE(Call(Rcpt("blocked@example.com"), &rejected).ok());
  EXPECT_EQ(rejected.verdict().action(), v1::ACTION_REJECT);
  EXPECT_EQ(v1::ReplyText(rejected.verdict().reply()), "550 5.7.1 Recipient blocked");
  EXPECT_EQ(rejected.decided_by(), "reject-blocked-rcpt");
  EXPECT_EQ(rejected.matched(), 1u);
  ASSERT_EQ(rejected.outcomes_size(), 1);
  EXPECT_EQ(rejected.outcomes(0).kind(), v1::SINK_OUTCOME_KIND_ANSWERED);

  v1::EvaluateResponse accepted;
  ASSERT_TRUE(Call(Rcpt("friend@example.com"), &accepted).ok());
  EXPECT_EQ(accepted.verdict().action(), v1::ACTION_CONTINUE);
  EXPECT_THAT(accepted.verdict().tags(), ElementsAre("checked-by-reject-blocked-rcpt"));
  EXPECT_EQ(worker_.calls.load(), 2);
  // Over the chosen transport: one OnEvents stream, or none.
  EXPECT_EQ(worker_.streams.load(), GetParam() == WorkerTransport::kStream ? 1 : 0);

  v1::EvaluateRequest bad;
  v1::EvaluateResponse ignored;
  EXPECT_EQ(Call(bad, &ignored).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_P(ServerTest, GetInterestsReportsKeywordsBodyLimitAndGeneration) {
  grpc::ClientContext context;
  v1::GetInterestsResponse response;
  ASSERT_TRUE(dispatcher_->GetInterests(&context, {}, &response).ok());
  ASSERT_EQ(response.interests_size(), 1);
  EXPECT_EQ(response.interests(0).event(), v1::EVENT_TYPE_INBOUND_COMMAND);
  EXPECT_EQ(response.interests(0).instance(), 1u);
  EXPECT_THAT(response.interests(0).keywords(), ElementsAre("RCPT", "_EOD"));
  EXPECT_EQ(response.interests(0).body_limit(), 1000u);
  EXPECT_EQ(response.generation(), 1u);
  EXPECT_EQ(v1::FromProtoDuration(response.refresh_after()), std::chrono::seconds(5));
}

TEST_P(ServerTest, HealthCheckAndWatchServeTheServerAndTheDispatcher) {
  using grpc::health::v1::HealthCheckRequest;
  using grpc::health::v1::HealthCheckResponse;
  auto health = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(app_->address(), grpc::InsecureChannelCredentials()));
  for (const std::string service : {"", "smtpbridge.v1.Dispatcher"}) {
    grpc::ClientContext context;
    HealthCheckRequest request;
    request.set_service(service);
    HealthCheckResponse response;
    ASSERT_TRUE(health->Check(&context, request, &response).ok()) << service;
    EXPECT_EQ(response.status(), HealthCheckResponse::SERVING) << service;
  }
  {
    grpc::ClientContext context;
    HealthCheckRequest request;
    request.set_service("no.such.Service");
    HealthCheckResponse response;
    EXPECT_EQ(health->Check(&context, request, &response).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    HealthCheckRequest request;
    request.set_service("smtpbridge.v1.Dispatcher");
    auto reader = health->Watch(&context, request);
    HealthCheckResponse response;
    ASSERT_TRUE(reader->Read(&response));
    EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);
    context.TryCancel();
    reader->Finish();
  }
  // Reflection is on by default: list_services (field 7, "") names the Dispatcher.
  {
    grpc::GenericStub generic(
        grpc::CreateChannel(app_->address(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    grpc::Slice list_services(std::string("\x3a\x00", 2));
    grpc::ByteBuffer request(&list_services, 1), response;
    grpc::Status status;
    std::atomic<bool> done{false};
    generic.UnaryCall(&context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                      grpc::StubOptions(), &request, &response, [&](grpc::Status s) {
                        status = std::move(s);
                        done = true;
                      });
    while (!done) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_TRUE(status.ok()) << status.error_message();
    std::vector<grpc::Slice> slices;
    ASSERT_TRUE(response.Dump(&slices).ok());
    std::string bytes;
    for (const auto& slice : slices)
      bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    EXPECT_THAT(bytes, HasSubstr("smtpbridge.v1.Dispatcher"));
  }
}

TEST(HealthServiceTest, NotServingOnceDraining) {
  cq::CqPool pool;
  HealthService health(&pool);
  grpc::health::v1::HealthCheckResponse response;
  ASSERT_TRUE(health.CheckStatus("", &response).ok());
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  health.SetServing(false);
  for (const std::string service : {"", "smtpbridge.v1.Dispatcher"}) {
    ASSERT_TRUE(health.CheckStatus(service, &response).ok());
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::NOT_SERVING) << service;
  }
}

TEST_P(ServerTest, AdminNeedsTheTokenListsStatsAndReloads) {
  {
    grpc::ClientContext context;
    v1::ListBindingsResponse response;
    EXPECT_EQ(admin_->ListBindings(&context, {}, &response).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer wrong");
    v1::ListBindingsResponse response;
    EXPECT_EQ(admin_->ListBindings(&context, {}, &response).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext context;
    Authorize(&context);
    v1::ListBindingsResponse response;
    ASSERT_TRUE(admin_->ListBindings(&context, {}, &response).ok());
    ASSERT_EQ(response.bindings_size(), 2);
    EXPECT_EQ(response.bindings(0).name(), "reject-blocked-rcpt");
    EXPECT_EQ(response.bindings(0).sink_properties().at("blocked"), "blocked@example.com");
    EXPECT_EQ(response.source(), bindings_path_);
  }
  v1::EvaluateResponse ignored;
  ASSERT_TRUE(Call(Rcpt("blocked@example.com"), &ignored).ok());
  // The outcome is recorded just after the answer goes out: poll briefly for it.
  v1::BindingStats stats;
  for (int i = 0; i < 200 && stats.answered() == 0; ++i) {
    grpc::ClientContext context;
    Authorize(&context);
    v1::GetBindingStatsRequest request;
    request.set_name("reject-blocked-rcpt");
    v1::GetBindingStatsResponse response;
    ASSERT_TRUE(admin_->GetBindingStats(&context, request, &response).ok());
    ASSERT_EQ(response.stats_size(), 1);
    stats = response.stats(0);
    if (stats.answered() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(stats.name(), "reject-blocked-rcpt");
  EXPECT_EQ(stats.matched(), 1u);
  EXPECT_EQ(stats.answered(), 1u);
  EXPECT_EQ(stats.verdicts().at("reject"), 1u);
  EXPECT_GT(smtpbridge::v1::FromProtoDuration(stats.latency_p50()).count(), 0);
  {
    grpc::ClientContext context;
    Authorize(&context);
    v1::GetBindingStatsResponse all;
    ASSERT_TRUE(admin_->GetBindingStats(&context, {}, &all).ok());
    EXPECT_EQ(all.stats_size(), 2);  // "eod" listed with zeros
  }
  // A bad file: rejected, previous bindings kept.
  dir_.Write("bindings.yaml", "bindings:\n  - {name: x, event: NOPE, sink: y}\n");
  {
    grpc::ClientContext context;
    Authorize(&context);
    v1::ReloadResponse response;
    ASSERT_TRUE(admin_->Reload(&context, {}, &response).ok());
    EXPECT_FALSE(response.ok());
    EXPECT_THAT(response.errors(), ElementsAre(HasSubstr("bindings[0].event: \"NOPE\"")));
    EXPECT_EQ(response.generation(), 1u);
    EXPECT_EQ(response.bindings(), 2u);
  }
  ASSERT_TRUE(Call(Rcpt("blocked@example.com"), &ignored).ok());
  EXPECT_EQ(ignored.verdict().action(), v1::ACTION_REJECT);
  // A good file: generation 2, and the interests follow.
  dir_.Write("bindings.yaml", Bindings(/*with_eod=*/false));
  {
    grpc::ClientContext context;
    Authorize(&context);
    v1::ReloadResponse response;
    ASSERT_TRUE(admin_->Reload(&context, {}, &response).ok());
    EXPECT_TRUE(response.ok());
    EXPECT_EQ(response.generation(), 2u);
    EXPECT_EQ(response.bindings(), 1u);
  }
  grpc::ClientContext context;
  v1::GetInterestsResponse interests;
  ASSERT_TRUE(dispatcher_->GetInterests(&context, {}, &interests).ok());
  EXPECT_EQ(interests.generation(), 2u);
  ASSERT_EQ(interests.interests_size(), 1);
  EXPECT_THAT(interests.interests(0).keywords(), ElementsAre("RCPT"));
}

}  // namespace
}  // namespace smtpbridge::dispatcher

namespace smtpbridge::dispatcher {
namespace {

// GET http://address/metrics, HTTP/1.0 so the server closes when done; "" on failure.
std::string FetchMetrics(const std::string& address) {
  const int port = smtpbridge::testing::PortOf(address);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string request = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size())) {
      char buf[4096];
      ssize_t n;
      while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return out;
}

// #14, through the real gRPC path bridgectl test-event uses (Dispatcher.Evaluate with explain):
// a higher-priority binding's invalid verdict neither decides nor cancels the lower one's 550.
TEST_P(ServerTest, InvalidVerdictOfAHigherPriorityBindingDoesNotBypassTheLowerOne) {
  dir_.Write("bindings.yaml", Bindings(false) +
                                  "  - name: broken-worker\n"
                                  "    event: INBOUND_COMMAND\n"
                                  "    rule: RCPT\n"
                                  "    priority: 0\n"
                                  "    sink: " +
                                  sink_ +
                                  "\n"
                                  "    sink_properties: {answer_354: yes}\n"
                                  "    timeout: 5s\n");
  grpc::ClientContext context;
  Authorize(&context);
  v1::ReloadResponse reloaded;
  ASSERT_TRUE(admin_->Reload(&context, {}, &reloaded).ok());
  ASSERT_TRUE(reloaded.ok()) << ::testing::PrintToString(reloaded.errors());

  v1::EvaluateResponse response;
  ASSERT_TRUE(Call(Rcpt("blocked@example.com"), &response).ok());
  EXPECT_EQ(response.verdict().action(), v1::ACTION_REJECT);
  EXPECT_EQ(v1::ReplyText(response.verdict().reply()), "550 5.7.1 Recipient blocked");
  EXPECT_EQ(response.decided_by(), "reject-blocked-rcpt");
  ASSERT_EQ(response.outcomes_size(), 2);
  EXPECT_EQ(response.outcomes(0).binding(), "broken-worker");
  EXPECT_EQ(response.outcomes(0).kind(), v1::SINK_OUTCOME_KIND_ERROR);
  EXPECT_THAT(response.outcomes(0).error(), HasSubstr("invalid verdict: reply_text"));
  EXPECT_EQ(response.outcomes(1).kind(), v1::SINK_OUTCOME_KIND_ANSWERED);
}

TEST(ServerMetricsTest, PrometheusCountsEventsDecisionsAndOutcomes) {
  smtpbridge::testing::TempDir dir;
  // Nothing listens on the sink's port: the call fails fast and on_error rejects.
  const std::string sink = "ipv4:127.0.0.1:" + std::to_string(smtpbridge::testing::FreeTcpPort());
  AppOptions options;
  options.listen = "127.0.0.1:0";
  options.metrics_listen = "127.0.0.1:0";
  options.watch_interval = std::chrono::milliseconds(0);
  options.bindings_path =
      dir.Write("bindings.yaml", "bindings:\n  - {name: strict, event: INBOUND_COMMAND, sink: \"" +
                                     sink + "\", on_error: reject, timeout: 5s}\n")
          .string();
  std::vector<std::string> errors;
  auto app = DispatcherApp::Create(options, &errors);
  ASSERT_TRUE(app) << ::testing::PrintToString(errors);
  std::string error;
  ASSERT_TRUE(app->Start(&error)) << error;
  ASSERT_FALSE(app->metrics_address().empty());

  auto stub = v1::Dispatcher::NewStub(
      grpc::CreateChannel(app->address(), grpc::InsecureChannelCredentials()));
  v1::EvaluateRequest request;
  request.mutable_event()->set_type(v1::EVENT_TYPE_INBOUND_COMMAND);
  request.mutable_event()->mutable_command()->set_keyword("NOOP");
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  v1::EvaluateResponse response;
  ASSERT_TRUE(stub->Evaluate(&context, request, &response).ok());
  EXPECT_EQ(response.verdict().action(), v1::ACTION_REJECT);
  EXPECT_EQ(response.decided_by(), "strict");

  std::string metrics;
  for (int i = 0; i < 200; ++i) {
    metrics = FetchMetrics(app->metrics_address());
    if (metrics.find("kind=\"error\"") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_THAT(metrics,
              HasSubstr("smtpbridge_dispatcher_events_total{event=\"INBOUND_COMMAND\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("smtpbridge_dispatcher_decisions_total{action=\"reject\"} 1"));
  EXPECT_THAT(
      metrics,
      HasSubstr(
          "smtpbridge_dispatcher_binding_outcomes_total{binding=\"strict\",kind=\"error\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("smtpbridge_dispatcher_evaluate_seconds_count 1"));
  EXPECT_THAT(metrics, HasSubstr("smtpbridge_dispatcher_bindings 1"));
  // Admission gauges, read when scraped: nothing in flight once answered; the default limits.
  EXPECT_THAT(metrics, HasSubstr("smtpbridge_dispatcher_in_flight_events 0"));
  EXPECT_THAT(metrics, HasSubstr("smtpbridge_dispatcher_max_in_flight_events 10000"));
  EXPECT_THAT(metrics, HasSubstr("smtpbridge_dispatcher_pool_concurrency_limit{pool=\"" + sink +
                                 "\"} 1000"));
  EXPECT_THAT(metrics,
              HasSubstr("smtpbridge_dispatcher_worker_endpoints{pool=\"" + sink + "\"} 1"));
  EXPECT_TRUE(app->Shutdown());
}

}  // namespace
}  // namespace smtpbridge::dispatcher

namespace smtpbridge::dispatcher {
namespace {

// Answers with a tag naming itself; the slow one holds each call until it is cancelled (or a
// bounded wait ends), as a stuck pod would.
class TaggingWorker : public v1::PolicySink::Service {
 public:
  TaggingWorker(std::string tag, bool slow) : tag_(std::move(tag)), slow_(slow) {}
  grpc::Status OnEvent(grpc::ServerContext* context, const v1::SinkRequest*,
                       v1::Verdict* verdict) override {
    ++calls;
    if (slow_) {
      for (int i = 0; i < 3000 && !context->IsCancelled(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
    verdict->set_action(v1::ACTION_CONTINUE);
    verdict->add_tags(tag_);
    return grpc::Status::OK;
  }
  std::atomic<int> calls{0};

 private:
  std::string tag_;
  bool slow_;
};

std::unique_ptr<grpc::Server> Serve(grpc::Service* service, int* port) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), port);
  builder.RegisterService(service);
  return builder.BuildAndStart();
}

class ServerHedgeTest : public ::testing::TestWithParam<WorkerTransport> {};

TEST_P(ServerHedgeTest, HedgedCallsAreAnsweredByTheHealthyWorker) {
  WithOnEvents<TaggingWorker> slow("slow", true), fast("fast", false);
  int slow_port = 0, fast_port = 0;
  auto slow_server = Serve(&slow, &slow_port);
  auto fast_server = Serve(&fast, &fast_port);
  ASSERT_TRUE(slow_server && fast_server);
  smtpbridge::testing::TempDir dir;
  AppOptions options;
  options.listen = "127.0.0.1:0";
  options.watch_interval = std::chrono::milliseconds(0);
  options.pools.transport = GetParam();
  // One target with both addresses: the pool sends a first copy to either worker (the less
  // loaded of two, both idle between events), and the hedge of one stuck on the slow worker to
  // the other, the fast one (fewer calls in flight): only the hedge can answer in time.
  options.bindings_path =
      dir.Write("bindings.yaml",
                "bindings:\n  - {name: pool, event: INBOUND_COMMAND, rule: RCPT, timeout: 10s, "
                "hedge_after: 20ms, on_error: reject, sink: \"ipv4:127.0.0.1:" +
                    std::to_string(slow_port) + ",127.0.0.1:" + std::to_string(fast_port) + "\"}\n")
          .string();
  std::vector<std::string> errors;
  auto app = DispatcherApp::Create(options, &errors);
  ASSERT_TRUE(app) << ::testing::PrintToString(errors);
  std::string error;
  ASSERT_TRUE(app->Start(&error)) << error;
  auto stub = v1::Dispatcher::NewStub(
      grpc::CreateChannel(app->address(), grpc::InsecureChannelCredentials()));
  auto evaluate = [&](v1::EvaluateResponse* response) {
    v1::EvaluateRequest request;
    request.mutable_event()->set_type(v1::EVENT_TYPE_INBOUND_COMMAND);
    request.mutable_event()->mutable_command()->set_keyword("RCPT");
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return stub->Evaluate(&context, request, response);
  };
  // Until both subchannels are connected round_robin may pick the same worker twice; warm up
  // until each worker has seen a call.
  for (int i = 0; i < 50 && (slow.calls.load() == 0 || fast.calls.load() == 0); ++i) {
    v1::EvaluateResponse ignored;
    ASSERT_TRUE(evaluate(&ignored).ok());
  }
  ASSERT_GE(slow.calls.load(), 1);
  const int slow_before = slow.calls.load();
  const int fast_before = fast.calls.load();
  // The choice is random: go on until some first copies landed on the stuck worker (bounded).
  int sent = 0;
  for (; sent < 4 || (slow.calls.load() - slow_before < 2 && sent < 60); ++sent) {
    v1::EvaluateResponse response;
    ASSERT_TRUE(evaluate(&response).ok());
    EXPECT_EQ(response.verdict().action(), v1::ACTION_CONTINUE);
    EXPECT_THAT(response.verdict().tags(), ElementsAre("fast")) << "event " << sent;
  }
  EXPECT_GE(slow.calls.load() - slow_before, 2);     // first copies did land on the stuck worker
  EXPECT_EQ(fast.calls.load() - fast_before, sent);  // each event: once, first copy or hedge
  if (GetParam() == WorkerTransport::kStream) {
    EXPECT_GE(slow.streams.load() + fast.streams.load(), 2);
  } else {
    EXPECT_EQ(slow.streams.load() + fast.streams.load(), 0);
  }
  EXPECT_TRUE(app->Shutdown());
  slow_server->Shutdown();
  fast_server->Shutdown();
}

std::string TransportName(const ::testing::TestParamInfo<WorkerTransport>& info) {
  return info.param == WorkerTransport::kStream ? "Stream" : "Unary";
}
INSTANTIATE_TEST_SUITE_P(Transports, ServerHedgeTest,
                         ::testing::Values(WorkerTransport::kStream, WorkerTransport::kUnary),
                         TransportName);

}  // namespace
}  // namespace smtpbridge::dispatcher
