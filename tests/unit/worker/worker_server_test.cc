// An in-process Worker on port 0, called over loopback by a raw PolicySink stub.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "smtpbridge/v1/sink.grpc.pb.h"
#include "smtpbridge/worker/worker.h"

namespace smtpbridge::worker {
namespace {

using namespace std::chrono_literals;

WorkerOptions TestOptions() {
  WorkerOptions o;
  o.name = "unit";
  o.handle_signals = false;
  o.drain_timeout = 500ms;
  return o;
}

class WorkerServerTest : public ::testing::Test {
 protected:
  void StartWorker() {
    worker_.OnReady([this](const std::string& host_port, int port) {
      ready_address_ = host_port;
      ready_port_ = port;
    });
    port_ = worker_.Start("127.0.0.1:0");
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port_),
                                       grpc::InsecureChannelCredentials());
    stub_ = v1::PolicySink::NewStub(channel);
  }

  grpc::Status Call(const v1::SinkRequest& request, v1::Verdict* verdict,
                    std::chrono::milliseconds timeout = 5s) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + timeout);
    return stub_->OnEvent(&ctx, request, verdict);
  }

  static v1::SinkRequest Rcpt(const std::string& recipient) {
    v1::SinkRequest r;
    r.mutable_event()->set_type(v1::EVENT_TYPE_INBOUND_COMMAND);
    r.mutable_event()->set_event_id("ev-1");
    r.mutable_event()->mutable_command()->set_keyword("RCPT");
    r.mutable_event()->mutable_envelope()->set_recipient(recipient);
    return r;
  }

  Worker worker_{TestOptions()};
  std::unique_ptr<v1::PolicySink::Stub> stub_;
  int port_ = 0;
  std::string ready_address_;
  int ready_port_ = 0;
};

TEST_F(WorkerServerTest, ReadyCallbackReportsTheBoundPort) {
  StartWorker();
  EXPECT_GT(port_, 0);
  EXPECT_EQ(ready_port_, port_);
  EXPECT_EQ(ready_address_, "127.0.0.1:" + std::to_string(port_));
}

TEST_F(WorkerServerTest, HandlerVerdictTravelsOverTheWire) {
  worker_.On(v1::EVENT_TYPE_INBOUND_COMMAND, "RCPT", [](const EventContext& ctx) {
    if (ctx.recipient() == "blocked@example.com") {
      return std::move(Verdict::Reject(550, "5.7.1", "blocked").Reason("list"));
    }
    return Verdict::Continue();
  });
  StartWorker();
  v1::Verdict v;
  ASSERT_TRUE(Call(Rcpt("blocked@example.com"), &v).ok());
  EXPECT_EQ(v.action(), v1::ACTION_REJECT);
  EXPECT_EQ(v.reply().code(), 550u);
  EXPECT_EQ(v.reason(), "list");
  ASSERT_TRUE(Call(Rcpt("ok@example.com"), &v).ok());
  EXPECT_EQ(v.action(), v1::ACTION_CONTINUE);
}

TEST_F(WorkerServerTest, UnhandledEventContinues) {
  StartWorker();
  v1::SinkRequest r;
  r.mutable_event()->set_type(v1::EVENT_TYPE_SESSION_END);
  v1::Verdict v;
  ASSERT_TRUE(Call(r, &v).ok());
  EXPECT_EQ(v.action(), v1::ACTION_CONTINUE);
}

TEST_F(WorkerServerTest, ThrowingHandlerIsAnInternalError) {
  worker_.On(v1::EVENT_TYPE_CONNECT,
             [](const EventContext&) -> Verdict { throw std::runtime_error("boom"); });
  StartWorker();
  v1::SinkRequest r;
  r.mutable_event()->set_type(v1::EVENT_TYPE_CONNECT);
  v1::Verdict v;
  const auto status = Call(r, &v);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_NE(status.error_message().find("boom"), std::string::npos);
}

TEST_F(WorkerServerTest, HandlerSeesPropertiesAndABoundedTimeLeft) {
  std::optional<std::string> seen_property;
  std::chrono::nanoseconds seen_left{0};
  worker_.On(v1::EVENT_TYPE_CONNECT, [&](const EventContext& ctx) {
    seen_property = ctx.property("list").value_or("");
    seen_left = ctx.time_left();
    return Verdict::Continue();
  });
  StartWorker();
  v1::SinkRequest r;
  r.mutable_event()->set_type(v1::EVENT_TYPE_CONNECT);
  (*r.mutable_binding()->mutable_sink_properties())["list"] = "a,b";
  r.mutable_time_left()->set_seconds(60);
  v1::Verdict v;
  ASSERT_TRUE(Call(r, &v, 30s).ok());
  EXPECT_EQ(seen_property, "a,b");
  // The tighter of time_left (60 s) and the gRPC deadline (30 s, which gRPC rounds up a little)
  // bounds it.
  EXPECT_GT(seen_left, 0ns);
  EXPECT_LT(seen_left, 45s);
}

TEST_F(WorkerServerTest, CallNobodyAnswersIsCompletedWhenTheClientGivesUp) {
  std::mutex mu;
  std::optional<Responder> parked;
  worker_.OnAsync(v1::EVENT_TYPE_CONNECT, [&](const EventContext&, Responder r) {
    std::lock_guard lock(mu);
    parked.emplace(std::move(r));
  });
  StartWorker();
  v1::SinkRequest r;
  r.mutable_event()->set_type(v1::EVENT_TYPE_CONNECT);
  v1::Verdict v;
  EXPECT_EQ(Call(r, &v, 100ms).error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // The server sees the cancellation and completes the call itself; a late answer is ignored.
  bool finished = false;
  for (int i = 0; i < 500 && !finished; ++i) {
    {
      std::lock_guard lock(mu);
      finished = parked && parked->finished();
    }
    if (!finished) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(finished);
  std::lock_guard lock(mu);
  ASSERT_TRUE(parked.has_value());
  EXPECT_FALSE(parked->Finish(Verdict::Continue()));
}

TEST_F(WorkerServerTest, ShutdownCancelsCallsThatNeverAnswer) {
  std::atomic<int> started{0};
  worker_.OnAsync(v1::EVENT_TYPE_CONNECT, [&](const EventContext&, Responder) { ++started; });
  StartWorker();
  grpc::Status status;
  std::thread caller([&] {
    v1::SinkRequest r;
    r.mutable_event()->set_type(v1::EVENT_TYPE_CONNECT);
    v1::Verdict v;
    status = Call(r, &v, 30s);
  });
  for (int i = 0; i < 500 && started.load() == 0; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(started.load(), 1);
  worker_.Shutdown();  // bounded by drain_timeout, then the hanging call is cancelled
  caller.join();
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
}

TEST_F(WorkerServerTest, HealthServiceReportsServing) {
  StartWorker();
  // grpc.health.v1.Health/Check through the generic stub: the request for the whole server is an
  // empty message, and HealthCheckResponse{status: SERVING} is field 1 = 1, i.e. bytes 08 01.
  grpc::GenericStub stub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port_),
                                             grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  grpc::ByteBuffer request, response;
  grpc::Slice empty;
  request = grpc::ByteBuffer(&empty, 1);
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &response,
                 [&done](grpc::Status s) { done.set_value(std::move(s)); });
  const auto status = done.get_future().get();
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (const auto& slice : slices)
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  EXPECT_EQ(bytes, std::string("\x08\x01", 2));
}

TEST_F(WorkerServerTest, HealthCheckAndWatchKnowTheSinkServiceAndNothingElse) {
  StartWorker();
  auto health = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(port_), grpc::InsecureChannelCredentials()));
  const auto check = [&](const std::string& service, grpc::health::v1::HealthCheckResponse* out) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    return health->Check(&ctx, request, out);
  };
  grpc::health::v1::HealthCheckResponse response;
  ASSERT_TRUE(check("smtpbridge.v1.PolicySink", &response).ok());
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_EQ(check("no.such.Service", &response).error_code(), grpc::StatusCode::NOT_FOUND);
  // Watch (client-side health checking): SERVING, then NOT_SERVING once draining, then the
  // stream ends and the worker stops without waiting out its drain timeout for it.
  grpc::ClientContext watch_ctx;
  watch_ctx.set_deadline(std::chrono::system_clock::now() + 30s);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service("smtpbridge.v1.PolicySink");
  auto reader = health->Watch(&watch_ctx, request);
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  auto stopped = std::async(std::launch::async, [this] { worker_.Shutdown(); });
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  EXPECT_FALSE(reader->Read(&response));
  EXPECT_TRUE(reader->Finish().ok());
  stopped.get();
}

TEST_F(WorkerServerTest, AsyncHandlerAnswersFromAnotherThread) {
  std::vector<std::thread> answerers;
  std::mutex mu;
  worker_.OnAsync(
      v1::EVENT_TYPE_INBOUND_COMMAND, "RCPT", [&](const EventContext& ctx, Responder r) {
        const std::string recipient = ctx.recipient();
        std::lock_guard lock(mu);
        answerers.emplace_back([r, recipient] {
          std::this_thread::sleep_for(5ms);
          EXPECT_TRUE(r.Finish(std::move(Verdict::Reject(550, "5.7.1", "no").Reason(recipient))));
          EXPECT_FALSE(r.Finish(Verdict::Continue()));  // exactly once
        });
      });
  StartWorker();
  std::vector<std::thread> callers;
  std::atomic<int> rejected{0};
  for (int i = 0; i < 8; ++i) {
    callers.emplace_back([&, i] {
      v1::Verdict v;
      const std::string rcpt = "u" + std::to_string(i) + "@example.com";
      if (Call(Rcpt(rcpt), &v).ok() && v.action() == v1::ACTION_REJECT && v.reason() == rcpt) {
        ++rejected;
      }
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(rejected.load(), 8);
  std::lock_guard lock(mu);
  for (auto& t : answerers) t.join();
}

TEST_F(WorkerServerTest, ShutdownLetsARunningCallFinishWithinTheDrainTimeout) {
  std::mutex mu;
  std::optional<Responder> parked;
  std::atomic<int> started{0};
  worker_.OnAsync(v1::EVENT_TYPE_CONNECT, [&](const EventContext&, Responder r) {
    std::lock_guard lock(mu);
    parked.emplace(std::move(r));
    ++started;
  });
  StartWorker();
  grpc::Status status;
  v1::Verdict v;
  std::thread caller([&] {
    v1::SinkRequest r;
    r.mutable_event()->set_type(v1::EVENT_TYPE_CONNECT);
    status = Call(r, &v, 30s);
  });
  for (int i = 0; i < 500 && started.load() == 0; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(started.load(), 1);
  std::thread answerer([&] {
    std::this_thread::sleep_for(50ms);  // while Shutdown() drains
    std::lock_guard lock(mu);
    EXPECT_TRUE(parked->Finish(Verdict::Tempfail()));
  });
  worker_.Shutdown();
  answerer.join();
  caller.join();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(v.action(), v1::ACTION_TEMPFAIL);
}

TEST(WorkerThreadsTest, SeveralQueueThreadsServeCalls) {
  WorkerOptions options = TestOptions();
  options.threads = 2;
  Worker worker(options);
  worker.On(v1::EVENT_TYPE_CONNECT, [](const EventContext&) { return Verdict::Tempfail(); });
  const int port = worker.Start("127.0.0.1:0");
  auto stub = v1::PolicySink::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  for (int i = 0; i < 20; ++i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    v1::SinkRequest r;
    r.mutable_event()->set_type(v1::EVENT_TYPE_CONNECT);
    v1::Verdict v;
    ASSERT_TRUE(stub->OnEvent(&ctx, r, &v).ok());
    EXPECT_EQ(v.action(), v1::ACTION_TEMPFAIL);
  }
  worker.Shutdown();
}

// A ready callback runs outside the worker's lock: one that stops the worker returns, and Serve()
// then returns too (it used to deadlock on the worker's mutex).
TEST(WorkerLifecycleTest, ReadyCallbackMayShutDownTheWorker) {
  Worker worker(TestOptions());
  std::atomic<bool> ready{false};
  worker.OnReady([&](const std::string&, int) {
    ready = true;
    worker.Shutdown();
  });
  auto served = std::async(std::launch::async, [&] { worker.Serve("127.0.0.1:0"); });
  ASSERT_EQ(served.wait_for(30s), std::future_status::ready) << "Serve() did not return";
  served.get();
  EXPECT_TRUE(ready);
}

// With handle_signals, SIGTERM wakes Serve() (no polling loop), which drains and returns; the
// process's previous SIGTERM disposition is restored afterwards.
TEST(WorkerLifecycleTest, SigtermStopsServe) {
  WorkerOptions options = TestOptions();
  options.handle_signals = true;
  Worker worker(options);
  std::promise<void> ready;
  worker.OnReady([&](const std::string&, int) { ready.set_value(); });
  auto served = std::async(std::launch::async, [&] { worker.Serve("127.0.0.1:0"); });
  ASSERT_EQ(ready.get_future().wait_for(30s), std::future_status::ready);
  ASSERT_EQ(::kill(::getpid(), SIGTERM), 0);
  ASSERT_EQ(served.wait_for(30s), std::future_status::ready) << "SIGTERM did not stop Serve()";
  served.get();
  struct sigaction now {};
  ::sigaction(SIGTERM, nullptr, &now);
  EXPECT_EQ(now.sa_handler, SIG_DFL);
}

TEST_F(WorkerServerTest, ListeningOnABadAddressIsAClearError) {
  Worker worker(TestOptions());
  EXPECT_THROW(worker.Start("256.1.1.1:0"), std::runtime_error);
}

}  // namespace
}  // namespace smtpbridge::worker
