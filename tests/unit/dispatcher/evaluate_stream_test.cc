// Dispatcher.EvaluateStream through the real gRPC server (DispatcherApp) on port 0, with a real
// PolicySink worker in the same process that can hold calls until the test releases them, so
// "still in flight" is a fact, not a timing guess.
//
// Batching, made a fact the same way: a stream's reads and writes complete on one queue thread,
// and a request the dispatcher cannot take (no event type) is answered inline while its message
// is being read there. The answers a message produces while it is being handled are written
// together when it is done (cq/write_cork.h): one message, up to the cap.
#include "server/evaluate_stream.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <google/protobuf/unknown_field_set.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "server/dispatcher_app.h"
#include "smtpbridge/v1/admin.grpc.pb.h"
#include "smtpbridge/v1/dispatcher.grpc.pb.h"
#include "smtpbridge/v1/names.h"
#include "smtpbridge/v1/shed.h"
#include "smtpbridge/v1/sink.grpc.pb.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace smtpbridge::dispatcher {
namespace {

using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

// The client end of the batched stream, one request or answer at a time unless asked otherwise:
// Write sends a message of one request, Read hands out the answers of each message read in turn.
class Stream {
 public:
  explicit Stream(
      std::unique_ptr<grpc::ClientReaderWriter<v1::EvaluateRequests, v1::EvaluateResponses>> rw)
      : rw_(std::move(rw)) {}
  bool Write(const v1::EvaluateRequest& request) { return WriteBatch({request}); }
  bool WriteBatch(const std::vector<v1::EvaluateRequest>& requests) {
    v1::EvaluateRequests batch;
    for (const auto& r : requests) *batch.add_requests() = r;
    return rw_->Write(batch);
  }
  bool Read(v1::EvaluateResponse* response) {
    while (buffered_.empty()) {
      v1::EvaluateResponses batch;
      if (!ReadMessage(&batch)) return false;
      for (auto& r : *batch.mutable_responses()) buffered_.push_back(std::move(r));
    }
    *response = std::move(buffered_.front());
    buffered_.pop_front();
    return true;
  }
  // One whole message (nothing may be buffered by Read()).
  bool ReadMessage(v1::EvaluateResponses* batch) {
    EXPECT_TRUE(buffered_.empty());
    return rw_->Read(batch);
  }
  bool WritesDone() { return rw_->WritesDone(); }
  grpc::Status Finish() { return rw_->Finish(); }

 private:
  std::unique_ptr<grpc::ClientReaderWriter<v1::EvaluateRequests, v1::EvaluateResponses>> rw_;
  std::deque<v1::EvaluateResponse> buffered_;
};

// By recipient: "blocked@..." is rejected, "held..." waits until Release() (or its call is
// cancelled), anything else continues with a tag.
class GatedWorker final : public v1::PolicySink::Service {
 public:
  grpc::Status OnEvent(grpc::ServerContext* context, const v1::SinkRequest* request,
                       v1::Verdict* verdict) override {
    const std::string& rcpt = request->event().envelope().recipient();
    {
      std::lock_guard lock(mu_);
      const auto& metadata = context->client_metadata();
      const auto it = metadata.find("traceparent");
      traceparents_[rcpt] =
          it == metadata.end() ? "" : std::string(it->second.data(), it->second.size());
    }
    if (rcpt.rfind("held", 0) == 0) {
      std::unique_lock lock(mu_);
      ++held_;
      cv_.notify_all();
      while (!released_ && !context->IsCancelled())
        cv_.wait_for(lock, std::chrono::milliseconds(5));
    }
    if (rcpt == "blocked@example.com") {
      verdict->set_action(v1::ACTION_REJECT);
      verdict->mutable_reply()->set_code(550);
      verdict->mutable_reply()->add_lines("Recipient blocked");
    } else {
      verdict->set_action(v1::ACTION_CONTINUE);
      verdict->add_tags("ok:" + rcpt);
    }
    return grpc::Status::OK;
  }

  void Release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

  // The traceparent metadata the last call for `rcpt` carried ("" when none).
  std::string traceparent(const std::string& rcpt) {
    std::lock_guard lock(mu_);
    return traceparents_[rcpt];
  }

  // Until `n` held calls have arrived (false after a generous bound: the test fails, not hangs).
  bool WaitHeld(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(20), [&] { return held_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int held_ = 0;
  bool released_ = false;
  std::map<std::string, std::string> traceparents_;
};

// GET /metrics from the app's exposer.
std::string FetchMetrics(const std::string& address) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(smtpbridge::testing::PortOf(address)));
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

class EvaluateStreamTest : public ::testing::Test {
 protected:
  virtual std::chrono::milliseconds DrainTimeout() const { return std::chrono::seconds(5); }
  // The exposer costs a test about 2 s at shutdown: only where a test reads the metrics.
  virtual std::string MetricsListen() const { return ""; }
  virtual size_t MaxInFlight() const { return 10000; }

  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&worker_);
    worker_server_ = builder.BuildAndStart();
    ASSERT_TRUE(worker_server_);
    AppOptions options;
    options.listen = "127.0.0.1:0";
    options.watch_interval = std::chrono::milliseconds(0);
    options.drain_timeout = DrainTimeout();
    options.metrics_listen = MetricsListen();
    options.admission.max_in_flight = MaxInFlight();
    options.bindings_path =
        dir_.Write("bindings.yaml",
                   "bindings:\n  - {name: rcpt, event: INBOUND_COMMAND, rule: RCPT, "
                   "timeout: 30s, sink: \"ipv4:127.0.0.1:" +
                       std::to_string(port) + "\"}\n")
            .string();
    std::vector<std::string> errors;
    app_ = DispatcherApp::Create(options, &errors);
    ASSERT_TRUE(app_) << ::testing::PrintToString(errors);
    std::string error;
    ASSERT_TRUE(app_->Start(&error)) << error;
    channel_ = grpc::CreateChannel(app_->address(), grpc::InsecureChannelCredentials());
    stub_ = v1::Dispatcher::NewStub(channel_);
  }

  void TearDown() override {
    worker_.Release();
    if (shutdown_.joinable()) shutdown_.join();
    if (app_) {
      EXPECT_TRUE(app_->Shutdown());
    }
    if (worker_server_) worker_server_->Shutdown();
    EXPECT_EQ(EvaluateStream::Open(), 0u);
  }

  // A stream whose context bounds the whole test (a hang fails instead of blocking ctest).
  std::unique_ptr<Stream> Open(grpc::ClientContext* context) {
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return std::make_unique<Stream>(stub_->EvaluateStream(context));
  }

  static v1::EvaluateRequest Rcpt(uint64_t id, const std::string& address,
                                  std::chrono::nanoseconds budget = std::chrono::seconds(30)) {
    v1::EvaluateRequest request;
    request.set_stream_id(id);
    auto* e = request.mutable_event();
    e->set_event_id("e" + std::to_string(id));
    e->set_type(v1::EVENT_TYPE_INBOUND_COMMAND);
    e->mutable_session()->set_instance(1);
    e->mutable_command()->set_keyword("RCPT");
    e->mutable_command()->set_argument("TO:<" + address + ">");
    e->mutable_envelope()->set_recipient(address);
    *e->mutable_budget() = v1::ToProtoDuration(budget);
    return request;
  }

  // A request the dispatcher answers inline with CONTINUE (no event type: it cannot take it).
  static v1::EvaluateRequest Untakeable(uint64_t id) {
    v1::EvaluateRequest request;
    request.set_stream_id(id);
    return request;
  }

  // Reads `n` answers, keyed by stream_id (each id once).
  static std::map<uint64_t, v1::EvaluateResponse> ReadN(Stream* stream, int n) {
    std::map<uint64_t, v1::EvaluateResponse> answers;
    for (int i = 0; i < n; ++i) {
      v1::EvaluateResponse response;
      if (!stream->Read(&response)) {
        ADD_FAILURE() << "stream ended after " << i << " of " << n << " answers";
        break;
      }
      EXPECT_TRUE(answers.emplace(response.stream_id(), response).second)
          << "stream_id " << response.stream_id() << " answered twice";
    }
    return answers;
  }

  // Shutdown() on its own thread, for when it has to wait for something the test still does.
  void StartShutdown() {
    shutdown_ = std::thread([this] { drained_ = app_->Shutdown(); });
  }
  // Joins it; what it returned.
  bool JoinShutdown() {
    shutdown_.join();
    return drained_;
  }

  // Polls until every accepted stream is gone (bounded; the caller asserts the result).
  static size_t WaitStreamsGone() {
    for (int i = 0; i < 2000 && EvaluateStream::Open() > 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return EvaluateStream::Open();
  }

  smtpbridge::testing::TempDir dir_;
  GatedWorker worker_;
  std::unique_ptr<grpc::Server> worker_server_;
  std::unique_ptr<DispatcherApp> app_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Dispatcher::Stub> stub_;
  std::thread shutdown_;  // joined in TearDown (after Release) when a test did not
  std::atomic<bool> drained_{false};
};

TEST_F(EvaluateStreamTest, BackToBackRequestsAreAllAnsweredWithTheirStreamId) {
  grpc::ClientContext context;
  auto stream = Open(&context);
  for (uint64_t id = 10; id < 16; ++id) {
    ASSERT_TRUE(stream->Write(Rcpt(id, id % 2 ? "blocked@example.com" : "friend@example.com")));
  }
  const auto answers = ReadN(stream.get(), 6);
  ASSERT_EQ(answers.size(), 6u);
  for (const auto& [id, response] : answers) {
    ASSERT_GE(id, 10u);
    ASSERT_LT(id, 16u);
    EXPECT_EQ(response.matched(), 1u) << id;
    if (id % 2) {
      EXPECT_EQ(response.verdict().action(), v1::ACTION_REJECT) << id;
      EXPECT_EQ(response.decided_by(), "rcpt") << id;
    } else {
      EXPECT_EQ(response.verdict().action(), v1::ACTION_CONTINUE) << id;
      EXPECT_THAT(response.verdict().tags(), ElementsAre("ok:friend@example.com")) << id;
      EXPECT_EQ(response.decided_by(), "") << id;
    }
  }
  ASSERT_TRUE(stream->WritesDone());
  EXPECT_TRUE(stream->Finish().ok());

  // Stats are recorded by the fan-out's observer, the same as for unary Evaluate.
  auto admin = v1::Admin::NewStub(channel_);
  v1::BindingStats stats;
  for (int i = 0; i < 200 && stats.answered() < 6; ++i) {
    grpc::ClientContext admin_context;
    v1::GetBindingStatsRequest request;
    request.set_name("rcpt");
    v1::GetBindingStatsResponse response;
    ASSERT_TRUE(admin->GetBindingStats(&admin_context, request, &response).ok());
    ASSERT_EQ(response.stats_size(), 1);
    stats = response.stats(0);
    if (stats.answered() < 6) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(stats.matched(), 6u);
  EXPECT_EQ(stats.answered(), 6u);
  EXPECT_EQ(stats.verdicts().at("reject"), 3u);
}

TEST_F(EvaluateStreamTest, AnswersComeInCompletionOrder) {
  grpc::ClientContext context;
  auto stream = Open(&context);
  ASSERT_TRUE(stream->Write(Rcpt(1, "held@example.com")));
  ASSERT_TRUE(worker_.WaitHeld(1));
  ASSERT_TRUE(stream->Write(Rcpt(2, "friend@example.com")));
  // 1 cannot be answered before it is released: 2, sent later, comes first.
  v1::EvaluateResponse first;
  ASSERT_TRUE(stream->Read(&first));
  EXPECT_EQ(first.stream_id(), 2u);
  EXPECT_THAT(first.verdict().tags(), ElementsAre("ok:friend@example.com"));
  worker_.Release();
  v1::EvaluateResponse second;
  ASSERT_TRUE(stream->Read(&second));
  EXPECT_EQ(second.stream_id(), 1u);
  EXPECT_THAT(second.verdict().tags(), ElementsAre("ok:held@example.com"));
  ASSERT_TRUE(stream->WritesDone());
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(EvaluateStreamTest, UntakeableRequestsGetContinueAndTheStreamGoesOn) {
  grpc::ClientContext context;
  auto stream = Open(&context);
  v1::EvaluateRequest no_type;
  no_type.set_stream_id(1);
  ASSERT_TRUE(stream->Write(no_type));
  v1::EvaluateRequest unknown_type = Rcpt(2, "blocked@example.com");
  unknown_type.mutable_event()->set_type(static_cast<v1::EventType>(999));
  ASSERT_TRUE(stream->Write(unknown_type));
  ASSERT_TRUE(stream->Write(Rcpt(3, "blocked@example.com")));
  const auto answers = ReadN(stream.get(), 3);
  ASSERT_EQ(answers.size(), 3u);
  for (const uint64_t id : {1u, 2u}) {
    EXPECT_EQ(answers.at(id).verdict().action(), v1::ACTION_CONTINUE) << id;
    EXPECT_EQ(answers.at(id).matched(), 0u) << id;
    EXPECT_EQ(answers.at(id).decided_by(), "") << id;
  }
  EXPECT_EQ(answers.at(3).verdict().action(), v1::ACTION_REJECT);
  EXPECT_EQ(answers.at(3).matched(), 1u);
  ASSERT_TRUE(stream->WritesDone());
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(EvaluateStreamTest, HalfCloseStillDeliversTheAnswersOwedThenOk) {
  grpc::ClientContext context;
  auto stream = Open(&context);
  ASSERT_TRUE(stream->Write(Rcpt(1, "held-1@example.com")));
  ASSERT_TRUE(stream->Write(Rcpt(2, "held-2@example.com")));
  ASSERT_TRUE(stream->Write(Rcpt(3, "blocked@example.com")));
  // Both held calls reached the worker: two fan-outs of one stream running at once.
  ASSERT_TRUE(worker_.WaitHeld(2));
  ASSERT_TRUE(stream->WritesDone());
  worker_.Release();
  const auto answers = ReadN(stream.get(), 3);
  std::vector<uint64_t> ids;
  for (const auto& [id, response] : answers) ids.push_back(id);
  EXPECT_THAT(ids, UnorderedElementsAre(1u, 2u, 3u));
  EXPECT_EQ(answers.at(1).verdict().action(), v1::ACTION_CONTINUE);
  EXPECT_EQ(answers.at(3).verdict().action(), v1::ACTION_REJECT);
  v1::EvaluateResponse extra;
  EXPECT_FALSE(stream->Read(&extra));
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(EvaluateStreamTest, ClientCancelMidFlightCleansUp) {
  {
    grpc::ClientContext context;
    auto stream = Open(&context);
    ASSERT_TRUE(stream->Write(Rcpt(1, "held-1@example.com")));
    ASSERT_TRUE(stream->Write(Rcpt(2, "held-2@example.com")));
    ASSERT_TRUE(stream->Write(Rcpt(3, "friend@example.com")));
    ASSERT_TRUE(worker_.WaitHeld(2));
    v1::EvaluateResponse answer;
    ASSERT_TRUE(stream->Read(&answer));
    EXPECT_EQ(answer.stream_id(), 3u);
    context.TryCancel();
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  // The two fan-outs still running end now; their answers have nowhere to go.
  worker_.Release();
  EXPECT_EQ(WaitStreamsGone(), 0u);
  // The server keeps serving streams.
  grpc::ClientContext context;
  auto stream = Open(&context);
  ASSERT_TRUE(stream->Write(Rcpt(7, "blocked@example.com")));
  v1::EvaluateResponse answer;
  ASSERT_TRUE(stream->Read(&answer));
  EXPECT_EQ(answer.stream_id(), 7u);
  EXPECT_EQ(answer.verdict().action(), v1::ACTION_REJECT);
  ASSERT_TRUE(stream->WritesDone());
  EXPECT_TRUE(stream->Finish().ok());
}

// One message of several requests: each is fanned out on its own, so the one a worker holds
// delays none of the others, whose answers come first; each answer carries its stream_id.
TEST_F(EvaluateStreamTest, ABatchIsFannedOutPerRequestAndASlowOneHoldsBackNone) {
  grpc::ClientContext context;
  auto stream = Open(&context);
  ASSERT_TRUE(stream->WriteBatch({Rcpt(1, "held@example.com"), Rcpt(2, "friend@example.com"),
                                  Rcpt(3, "blocked@example.com")}));
  ASSERT_TRUE(worker_.WaitHeld(1));
  const auto quick = ReadN(stream.get(), 2);  // while 1 is still held
  ASSERT_EQ(quick.size(), 2u);
  EXPECT_THAT(quick.at(2).verdict().tags(), ElementsAre("ok:friend@example.com"));
  EXPECT_EQ(quick.at(3).verdict().action(), v1::ACTION_REJECT);
  worker_.Release();
  v1::EvaluateResponse held;
  ASSERT_TRUE(stream->Read(&held));
  EXPECT_EQ(held.stream_id(), 1u);
  EXPECT_THAT(held.verdict().tags(), ElementsAre("ok:held@example.com"));
  ASSERT_TRUE(stream->WritesDone());
  EXPECT_TRUE(stream->Finish().ok());
}

class EvaluateStreamMetricsTest : public EvaluateStreamTest {
 protected:
  std::string MetricsListen() const override { return "127.0.0.1:0"; }
};

// Answers ready together go out together: all five in one message, not the first alone and the
// rest behind its write. (See the top of the file.)
TEST_F(EvaluateStreamMetricsTest, AnswersReadyWhileAWriteIsInFlightGoOutInOneMessage) {
  grpc::ClientContext context;
  auto stream = Open(&context);
  ASSERT_TRUE(stream->WriteBatch(
      {Untakeable(1), Untakeable(2), Untakeable(3), Untakeable(4), Untakeable(5)}));
  std::vector<std::vector<uint64_t>> messages;
  for (int answers = 0; answers < 5;) {
    v1::EvaluateResponses batch;
    ASSERT_TRUE(stream->ReadMessage(&batch));
    messages.emplace_back();
    for (const auto& r : batch.responses()) {
      messages.back().push_back(r.stream_id());
      EXPECT_EQ(r.verdict().action(), v1::ACTION_CONTINUE);
      ++answers;
    }
  }
  EXPECT_THAT(messages, ElementsAre(ElementsAre(1u, 2u, 3u, 4u, 5u)));
  ASSERT_TRUE(stream->WritesDone());
  EXPECT_TRUE(stream->Finish().ok());
  // The operator sees it: smtpbridge_dispatcher_stream_batch_events, per message.
  std::string metrics;
  for (int i = 0; i < 200; ++i) {
    metrics = FetchMetrics(app_->metrics_address());
    if (metrics.find("direction=\"sent\"} 1") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_THAT(metrics,
              ::testing::HasSubstr(
                  "smtpbridge_dispatcher_stream_batch_events_count{direction=\"received\"} 1"));
  EXPECT_THAT(metrics,
              ::testing::HasSubstr(
                  "smtpbridge_dispatcher_stream_batch_events_sum{direction=\"received\"} 5"));
  EXPECT_THAT(metrics,
              ::testing::HasSubstr(
                  "smtpbridge_dispatcher_stream_batch_events_count{direction=\"sent\"} 1"));
  EXPECT_THAT(metrics, ::testing::HasSubstr(
                           "smtpbridge_dispatcher_stream_batch_events_sum{direction=\"sent\"} 5"));
}

// The cap (64 answers a message) splits what was ready together.
TEST_F(EvaluateStreamTest, TheCapSplitsTheAnswersQueuedBehindAWrite) {
  grpc::ClientContext context;
  auto stream = Open(&context);
  std::vector<v1::EvaluateRequest> requests;
  for (uint64_t id = 1; id <= 150; ++id) requests.push_back(Untakeable(id));
  ASSERT_TRUE(stream->WriteBatch(requests));
  std::vector<size_t> sizes;
  std::vector<uint64_t> ids;
  while (ids.size() < 150) {
    v1::EvaluateResponses batch;
    ASSERT_TRUE(stream->ReadMessage(&batch));
    sizes.push_back(static_cast<size_t>(batch.responses_size()));
    for (const auto& r : batch.responses()) ids.push_back(r.stream_id());
  }
  EXPECT_THAT(sizes, ElementsAre(64u, 64u, 22u));
  for (uint64_t i = 0; i < ids.size(); ++i)
    EXPECT_EQ(ids[i], i + 1);  // completion order = sent order here
  ASSERT_TRUE(stream->WritesDone());
  EXPECT_TRUE(stream->Finish().ok());
}

// Explain and trace context stay per request inside a batch: only the request that asked for an
// explanation gets one, and each worker call carries its own event's trace id.
TEST_F(EvaluateStreamTest, ExplainAndTraceContextArePerRequestInABatch) {
  const std::string trace_a = "4bf92f3577b34da6a3ce929d0e0e4736";
  const std::string trace_b = "0af7651916cd43dd8448eb211c80319c";
  v1::EvaluateRequest a = Rcpt(1, "a@example.com");
  a.set_explain(true);
  a.set_traceparent("00-" + trace_a + "-00f067aa0ba902b7-01");
  v1::EvaluateRequest b = Rcpt(2, "b@example.com");
  b.set_traceparent("00-" + trace_b + "-b7ad6b7169203331-01");
  grpc::ClientContext context;
  auto stream = Open(&context);
  ASSERT_TRUE(stream->WriteBatch({a, b}));
  const auto answers = ReadN(stream.get(), 2);
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers.at(1).outcomes_size(), 1);  // no admin token configured: anyone may ask
  EXPECT_EQ(answers.at(2).outcomes_size(), 0);
  EXPECT_THAT(worker_.traceparent("a@example.com"), ::testing::HasSubstr(trace_a));
  EXPECT_THAT(worker_.traceparent("b@example.com"), ::testing::HasSubstr(trace_b));
  ASSERT_TRUE(stream->WritesDone());
  EXPECT_TRUE(stream->Finish().ok());
}

class EvaluateStreamOneInFlightTest : public EvaluateStreamTest {
 protected:
  size_t MaxInFlight() const override { return 1; }
};

// Admission is per request inside a batch: with room for one event, the held one takes it and
// the next request of the same message is answered at once as shed (the stream's shed marker),
// while the first is still running.
TEST_F(EvaluateStreamOneInFlightTest, AdmissionShedsPerRequestInABatch) {
  grpc::ClientContext context;
  auto stream = Open(&context);
  ASSERT_TRUE(stream->WriteBatch({Rcpt(1, "held@example.com"), Rcpt(2, "friend@example.com")}));
  ASSERT_TRUE(worker_.WaitHeld(1));
  v1::EvaluateResponse shed;
  ASSERT_TRUE(stream->Read(&shed));
  EXPECT_EQ(shed.stream_id(), 2u);
  EXPECT_TRUE(v1::IsShedResponse(shed));
  EXPECT_EQ(v1::ShedReason(shed), "in_flight");
  worker_.Release();
  v1::EvaluateResponse held;
  ASSERT_TRUE(stream->Read(&held));
  EXPECT_EQ(held.stream_id(), 1u);
  EXPECT_FALSE(v1::IsShedResponse(held));
  EXPECT_THAT(held.verdict().tags(), ElementsAre("ok:held@example.com"));
  ASSERT_TRUE(stream->WritesDone());
  EXPECT_TRUE(stream->Finish().ok());
}

// GetInterests offers the batched stream (evaluate_batches) and leaves field 4 (the unbatched
// stream of the previous release) off the wire, so a sink of that release keeps to unary.
TEST_F(EvaluateStreamTest, GetInterestsOffersTheBatchedStreamOnly) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  v1::GetInterestsResponse response;
  ASSERT_TRUE(stub_->GetInterests(&context, {}, &response).ok());
  EXPECT_TRUE(response.evaluate_batches());
  google::protobuf::UnknownFieldSet wire;
  ASSERT_TRUE(wire.ParseFromString(response.SerializeAsString()));
  for (int i = 0; i < wire.field_count(); ++i) EXPECT_NE(wire.field(i).number(), 4);
}

// A short drain so a fan-out still running (its stream then cancelled by gRPC at the drain
// deadline) does not keep the test waiting long.
class EvaluateStreamShutdownTest : public EvaluateStreamTest {
 protected:
  std::chrono::milliseconds DrainTimeout() const override { return std::chrono::milliseconds(200); }
};

TEST_F(EvaluateStreamShutdownTest, ShutdownWithAnIdleOpenStreamCompletes) {
  grpc::ClientContext context;
  auto stream = Open(&context);
  ASSERT_TRUE(stream->Write(Rcpt(1, "friend@example.com")));
  v1::EvaluateResponse answer;
  ASSERT_TRUE(stream->Read(&answer));
  EXPECT_EQ(answer.stream_id(), 1u);
  // The client never half-closes: the server ends the stream when the drain starts.
  EXPECT_TRUE(app_->Shutdown());
  EXPECT_EQ(EvaluateStream::Open(), 0u);
  EXPECT_FALSE(stream->Read(&answer));
  EXPECT_FALSE(stream->Finish().ok());
}

TEST_F(EvaluateStreamShutdownTest, ShutdownWithAFanOutStillRunningCompletes) {
  grpc::ClientContext context;
  auto stream = Open(&context);
  // Held by the worker until its 2 s budget runs out, well past the drain: the answer has no
  // stream to go to (usually the queues are closed by then) and is dropped.
  ASSERT_TRUE(stream->Write(Rcpt(1, "held@example.com", std::chrono::seconds(2))));
  ASSERT_TRUE(worker_.WaitHeld(1));
  app_->Shutdown();  // false when the fan-out outlived the drain; either way it returns
  EXPECT_EQ(EvaluateStream::Open(), 0u);
  v1::EvaluateResponse answer;
  EXPECT_FALSE(stream->Read(&answer));
  EXPECT_FALSE(stream->Finish().ok());
}

// A drain far longer than any test: a stream that ended with "dispatcher draining" was ended by
// the dispatcher when the drain began, not cancelled by gRPC at the deadline.
class EvaluateStreamDrainTest : public EvaluateStreamTest {
 protected:
  std::chrono::milliseconds DrainTimeout() const override { return std::chrono::seconds(30); }

  // Until a new call is refused: the server stopped accepting, which Shutdown() does only after
  // telling the streams to drain (false after a generous bound).
  bool WaitNotAccepting() {
    auto health = grpc::health::v1::Health::NewStub(channel_);
    for (int i = 0; i < 2000; ++i) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      grpc::health::v1::HealthCheckResponse response;
      const grpc::health::v1::HealthCheckRequest request;
      if (!health->Check(&context, request, &response).ok()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

  static void ExpectDraining(const grpc::Status& status) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
    EXPECT_THAT(status.error_message(), ::testing::HasSubstr("draining"));
  }
};

TEST_F(EvaluateStreamDrainTest, IdleOpenStreamsEndUnavailableWhenShutdownStarts) {
  grpc::ClientContext context_a, context_b;
  auto a = Open(&context_a);
  auto b = Open(&context_b);
  // Each answered once, so both are accepted and now idle (nothing in flight, client open).
  for (auto* stream : {a.get(), b.get()}) {
    ASSERT_TRUE(stream->Write(Rcpt(1, "friend@example.com")));
    v1::EvaluateResponse answer;
    ASSERT_TRUE(stream->Read(&answer));
    EXPECT_EQ(answer.stream_id(), 1u);
  }
  ASSERT_EQ(EvaluateStream::Open(), 2u);
  // Returns with nothing cancelled: the streams ended themselves, so the 30 s deadline was not
  // what ended them (the status says so).
  EXPECT_TRUE(app_->Shutdown());
  EXPECT_EQ(EvaluateStream::Open(), 0u);
  for (auto* stream : {a.get(), b.get()}) {
    v1::EvaluateResponse extra;
    EXPECT_FALSE(stream->Read(&extra));
    ExpectDraining(stream->Finish());
  }
}

TEST_F(EvaluateStreamDrainTest, RequestsInFlightOrArrivingWhileDrainingAreAnsweredThenUnavailable) {
  grpc::ClientContext context;
  auto stream = Open(&context);
  ASSERT_TRUE(stream->Write(Rcpt(1, "held@example.com")));
  ASSERT_TRUE(worker_.WaitHeld(1));
  // Shutdown() waits for the stream, which waits for the held answer.
  StartShutdown();
  ASSERT_TRUE(WaitNotAccepting());
  // Sent after the drain began, while 1 still holds the stream open: read and answered.
  ASSERT_TRUE(stream->Write(Rcpt(2, "blocked@example.com")));
  v1::EvaluateResponse answer;
  ASSERT_TRUE(stream->Read(&answer));
  EXPECT_EQ(answer.stream_id(), 2u);
  EXPECT_EQ(answer.verdict().action(), v1::ACTION_REJECT);
  // The answer owed for 1 arrives, then the status.
  worker_.Release();
  ASSERT_TRUE(stream->Read(&answer));
  EXPECT_EQ(answer.stream_id(), 1u);
  EXPECT_EQ(answer.verdict().action(), v1::ACTION_CONTINUE);
  EXPECT_THAT(answer.verdict().tags(), ElementsAre("ok:held@example.com"));
  EXPECT_FALSE(stream->Read(&answer));
  ExpectDraining(stream->Finish());
  EXPECT_TRUE(JoinShutdown());
  EXPECT_EQ(EvaluateStream::Open(), 0u);
}

TEST_F(EvaluateStreamDrainTest, HalfClosedStreamStillFinishesOk) {
  grpc::ClientContext context;
  auto stream = Open(&context);
  ASSERT_TRUE(stream->Write(Rcpt(1, "held@example.com")));
  ASSERT_TRUE(worker_.WaitHeld(1));
  ASSERT_TRUE(stream->WritesDone());
  StartShutdown();
  ASSERT_TRUE(WaitNotAccepting());
  worker_.Release();
  v1::EvaluateResponse answer;
  ASSERT_TRUE(stream->Read(&answer));
  EXPECT_EQ(answer.stream_id(), 1u);
  EXPECT_FALSE(stream->Read(&answer));
  // The client said it sends no more and got everything: nothing to retry elsewhere.
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_TRUE(JoinShutdown());
}

}  // namespace
}  // namespace smtpbridge::dispatcher
