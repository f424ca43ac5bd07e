// The dispatcher's worker calls over PolicySink.OnEvents (workers/worker_stream.*): a
// GrpcSinkClient on its own completion-queue thread, calling scripted workers (sync gRPC
// services that record what they read and answer when the test says) and C++ SDK workers over
// loopback. Everything is asserted on behaviour: which message carried what, which status each
// call got; never on times.
#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "dispatch/thread_clock.h"
#include "smtpbridge/cq/cq_pool.h"
#include "smtpbridge/v1/sink.grpc.pb.h"
#include "smtpbridge/worker/worker.h"
#include "workers/channel_pool.h"
#include "workers/grpc_sink_client.h"

namespace smtpbridge::dispatcher {
namespace {

using namespace std::chrono_literals;

// A worker whose OnEvents answers at once, or holds answers until the test releases them.
class ScriptedWorker final : public v1::PolicySink::Service {
 public:
  explicit ScriptedWorker(bool serve_stream = true) : serve_stream_(serve_stream) {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
    address = "127.0.0.1:" + std::to_string(port);
  }
  ~ScriptedWorker() override { server_->Shutdown(std::chrono::system_clock::now()); }

  grpc::Status OnEvent(grpc::ServerContext* context, const v1::SinkRequest* request,
                       v1::Verdict* verdict) override {
    ++unary_calls;
    // "slow": no answer until the caller gives up (bounded).
    for (int i = 0; i < 10000 && request->event().envelope().recipient().rfind("slow", 0) == 0 &&
                    !context->IsCancelled();
         ++i) {
      std::this_thread::sleep_for(1ms);
    }
    const v1::SinkAnswer answer = Answer(*request);
    if (answer.error_code() != 0) {
      return grpc::Status(static_cast<grpc::StatusCode>(answer.error_code()),
                          answer.error_message());
    }
    *verdict = answer.verdict();
    return grpc::Status::OK;
  }

  grpc::Status OnEvents(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::SinkAnswers, v1::SinkRequests>* stream) override {
    if (!serve_stream_) return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "no OnEvents");
    {
      std::lock_guard lock(mu_);
      ++streams_opened;
      current_ = stream;
      context_ = context;
    }
    v1::SinkRequests message;
    while (stream->Read(&message)) {
      std::lock_guard lock(mu_);
      std::vector<uint64_t> ids;
      v1::SinkAnswers now;
      for (const auto& r : message.requests()) {
        ids.push_back(r.stream_id());
        traceparents.push_back(r.traceparent());
        const bool hold = hold_all || r.event().envelope().recipient().rfind("slow", 0) == 0;
        if (hold) {
          held[r.stream_id()] = r;
          held_on[r.stream_id()] = stream;
        } else {
          *now.add_answers() = Answer(r);
        }
      }
      messages.push_back(ids);
      cancels.insert(cancels.end(), message.cancel().begin(), message.cancel().end());
      if (now.answers_size() > 0) stream->Write(now);
      cv_.notify_all();
    }
    // Half-closed (or broken): what this stream still owes is answered before it ends.
    std::unique_lock lock(mu_);
    auto owes = [&] {
      for (const auto& [id, s] : held_on) {
        if (s == stream) return true;
      }
      return false;
    };
    for (int i = 0; i < 2000 && owes() && !context->IsCancelled(); ++i) cv_.wait_for(lock, 5ms);
    for (auto it = held_on.begin(); it != held_on.end();) {  // broken: never answered
      if (it->second == stream) {
        held.erase(it->first);
        it = held_on.erase(it);
      } else {
        ++it;
      }
    }
    ++streams_ended;
    if (current_ == stream) {
      current_ = nullptr;
      context_ = nullptr;
    }
    cv_.notify_all();
    return grpc::Status::OK;
  }

  // Answers the held requests with these ids, in this order, one message each.
  void Release(const std::vector<uint64_t>& ids) {
    std::lock_guard lock(mu_);
    for (const uint64_t id : ids) {
      v1::SinkAnswers answers;
      *answers.add_answers() = Answer(held.at(id));
      held.erase(id);
      auto* stream = held_on.at(id);
      held_on.erase(id);
      stream->Write(answers);
    }
    cv_.notify_all();
  }
  // Breaks the open stream (as a crashed worker or a reset connection would).
  void Break() {
    std::lock_guard lock(mu_);
    if (context_) context_->TryCancel();
  }
  // Waits until `pred` holds (under the lock), for at most 10 s.
  template <typename Pred>
  bool WaitFor(Pred pred) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 10s, [&] { return pred(); });
  }
  size_t held_count() {
    std::lock_guard lock(mu_);
    return held.size();
  }

  std::string address;
  std::atomic<int> unary_calls{0};
  std::atomic<bool> hold_all{false};
  // Guarded by mu_ (read them in WaitFor or after the calls are done).
  int streams_opened = 0;
  std::vector<std::vector<uint64_t>> messages;  // request ids per SinkRequests message
  std::vector<uint64_t> cancels;
  std::vector<std::string> traceparents;
  std::map<uint64_t, v1::SinkRequest> held;
  int streams_ended = 0;

 private:
  std::map<uint64_t, grpc::ServerReaderWriter<v1::SinkAnswers, v1::SinkRequests>*> held_on;

 public:
 private:
  // REJECT with the recipient as the reason, so a caller can tell its own answer.
  v1::SinkAnswer Answer(const v1::SinkRequest& r) {
    v1::SinkAnswer a;
    a.set_stream_id(r.stream_id());
    if (r.event().envelope().recipient().rfind("weird", 0) == 0) {
      a.set_error_code(999);  // not a google.rpc.Code
      return a;
    }
    if (r.event().envelope().recipient().rfind("error", 0) == 0) {
      a.set_error_code(grpc::StatusCode::INTERNAL);
      a.set_error_message("scripted error");
      return a;
    }
    a.mutable_verdict()->set_action(v1::ACTION_REJECT);
    a.mutable_verdict()->set_reason(r.event().envelope().recipient());
    return a;
  }

  const bool serve_stream_;
  std::unique_ptr<grpc::Server> server_;
  std::mutex mu_;
  std::condition_variable cv_;
  grpc::ServerReaderWriter<v1::SinkAnswers, v1::SinkRequests>* current_ = nullptr;
  grpc::ServerContext* context_ = nullptr;
};

// A worker on the completion-queue API that requests OnEvent only, as one written from the proto
// alone might: its server accepts OnEvents streams but nothing ever runs them.
class AsyncOnEventOnlyWorker {
 public:
  AsyncOnEventOnlyWorker() {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    cq_ = builder.AddCompletionQueue();
    server_ = builder.BuildAndStart();
    address = "127.0.0.1:" + std::to_string(port);
    thread_ = std::thread([this] { Run(); });
  }
  ~AsyncOnEventOnlyWorker() {
    server_->Shutdown(std::chrono::system_clock::now());
    cq_->Shutdown();
    thread_.join();
  }
  std::string address;
  std::atomic<int> unary_calls{0};

 private:
  struct Call {
    grpc::ServerContext context;
    v1::SinkRequest request;
    grpc::ServerAsyncResponseWriter<v1::Verdict> writer{&context};
    bool finishing = false;
  };
  void Request() {
    auto* call = new Call;
    service_.RequestOnEvent(&call->context, &call->request, &call->writer, cq_.get(), cq_.get(),
                            call);
  }
  void Run() {
    Request();
    void* tag = nullptr;
    bool ok = false;
    while (cq_->Next(&tag, &ok)) {
      auto* call = static_cast<Call*>(tag);
      if (!ok || call->finishing) {
        delete call;
        continue;
      }
      Request();
      ++unary_calls;
      v1::Verdict verdict;
      verdict.set_action(v1::ACTION_REJECT);
      verdict.set_reason(call->request.event().envelope().recipient());
      call->finishing = true;
      call->writer.Finish(verdict, grpc::Status::OK, call);
    }
  }
  v1::PolicySink::AsyncService service_;
  std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  std::unique_ptr<grpc::Server> server_;
  std::thread thread_;
};

class CountingListener final : public StreamListener {
 public:
  void OnBatch(size_t requests) override {
    ++batches;
    if (requests > 1) ++multi;
  }
  void OnUnaryFallback(const std::string&, const std::string&, const char*) override {
    ++fallbacks;
  }
  std::atomic<int> batches{0}, multi{0}, fallbacks{0};
};

struct Result {
  grpc::Status status;
  v1::Verdict verdict;
};

// A GrpcSinkClient on one completion-queue thread (a server with no service owns the queue).
class StreamClientTest : public ::testing::TestWithParam<WorkerTransport> {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    cqs_.AddTo(builder, 1);
    server_ = builder.BuildAndStart();
    cqs_.Start([](grpc::ServerCompletionQueue*) {});
    options_.transport = GetParam();
    options_.outlier.consecutive_failures = 3;
    channels_ = std::make_unique<ChannelPool>(&clock_, options_);
    client_ = std::make_unique<GrpcSinkClient>(channels_.get(), &cqs_);
    client_->set_stream_listener(&listener_);
  }
  void TearDown() override {
    client_->CloseStreams();
    server_->Shutdown(std::chrono::system_clock::now());
    cqs_.Shutdown();
    client_.reset();
    channels_.reset();
    clock_.Stop();
  }

  static std::shared_ptr<v1::SinkRequest> Rcpt(const std::string& recipient) {
    auto r = std::make_shared<v1::SinkRequest>();
    r->mutable_event()->set_type(v1::EVENT_TYPE_INBOUND_COMMAND);
    r->mutable_event()->mutable_command()->set_keyword("RCPT");
    r->mutable_event()->mutable_envelope()->set_recipient(recipient);
    return r;
  }

  // Starts a call; its result arrives on the future.
  std::future<Result> Start(const std::string& target, const std::string& recipient,
                            std::chrono::milliseconds timeout = 10s, CancelFn* cancel = nullptr,
                            const std::string& traceparent = "") {
    auto promise = std::make_shared<std::promise<Result>>();
    auto calls = std::make_shared<std::atomic<int>>(0);
    auto future = promise->get_future();
    CancelFn c = client_->Call(target, Rcpt(recipient), std::chrono::steady_clock::now() + timeout,
                               traceparent, [promise, calls](const grpc::Status& s, v1::Verdict v) {
                                 EXPECT_EQ(calls->fetch_add(1), 0) << "callback ran twice";
                                 promise->set_value({s, std::move(v)});
                               });
    if (cancel) *cancel = std::move(c);
    return future;
  }
  Result Call(const std::string& target, const std::string& recipient) {
    return Start(target, recipient).get();
  }

  // Runs `fn` on the client's completion-queue thread: nothing completes there meanwhile.
  void OnQueueThread(std::function<void()> fn) {
    struct Run final : cq::CqTag {
      std::function<void()> fn;
      std::promise<void> done;
      grpc::Alarm alarm;
      void Proceed(bool) override {
        fn();
        done.set_value();
      }
    } run;
    run.fn = std::move(fn);
    {
      cq::CqPool::Use use(&cqs_);
      ASSERT_TRUE(use);
      run.alarm.Set(cqs_.Pick(), gpr_now(GPR_CLOCK_MONOTONIC), &run);
    }
    run.done.get_future().wait();
  }

  bool streaming() const { return GetParam() == WorkerTransport::kStream; }

  ThreadClock clock_;
  PoolOptions options_;
  cq::CqPool cqs_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<ChannelPool> channels_;
  std::unique_ptr<GrpcSinkClient> client_;
  CountingListener listener_;
};

std::string Target(const ScriptedWorker& w) { return "ipv4:" + w.address; }
std::string Target(const ScriptedWorker& a, const ScriptedWorker& b) {
  return "ipv4:" + a.address + "," + b.address;
}

TEST_P(StreamClientTest, CallsQueuedBehindAWriteGoOutTogether) {
  ScriptedWorker worker;
  Result warm = Call(Target(worker), "warm@x");  // the stream is open
  ASSERT_TRUE(warm.status.ok()) << warm.status.error_code() << " " << warm.status.error_message();
  ASSERT_EQ(warm.verdict.reason(), "warm@x");
  std::vector<std::future<Result>> results;
  // Made on the queue's thread: the first one's write cannot complete before the others.
  OnQueueThread([&] {
    for (int i = 0; i < 5; ++i)
      results.push_back(Start(Target(worker), "r" + std::to_string(i) + "@x"));
  });
  for (int i = 0; i < 5; ++i) {
    Result r = results[i].get();
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
    EXPECT_EQ(r.verdict.reason(), "r" + std::to_string(i) + "@x");
  }
  if (!streaming()) {
    EXPECT_EQ(worker.unary_calls.load(), 6);
    EXPECT_EQ(listener_.batches.load(), 0);
    return;
  }
  EXPECT_EQ(worker.unary_calls.load(), 0);
  ASSERT_TRUE(worker.WaitFor([&] { return worker.messages.size() == 3; }));
  EXPECT_EQ(worker.messages[1].size(), 1u) << "the first goes out at once";
  EXPECT_EQ(worker.messages[2].size(), 4u) << "the rest, queued behind its write, together";
  EXPECT_EQ(worker.streams_opened, 1);
  EXPECT_GE(listener_.multi.load(), 1);
}

TEST_P(StreamClientTest, AnswersInAnyOrderReachTheirCalls) {
  if (!streaming()) GTEST_SKIP() << "unary calls have no shared stream to reorder";
  ScriptedWorker worker;
  worker.hold_all = true;
  std::vector<std::future<Result>> results;
  for (int i = 0; i < 3; ++i)
    results.push_back(Start(Target(worker), "o" + std::to_string(i) + "@x"));
  ASSERT_TRUE(worker.WaitFor([&] { return worker.held.size() == 3; }));
  std::vector<uint64_t> ids;
  ASSERT_TRUE(worker.WaitFor([&] {
    ids.clear();
    for (const auto& [id, r] : worker.held) ids.push_back(id);
    return true;
  }));
  worker.Release({ids[2], ids[0], ids[1]});
  for (int i = 0; i < 3; ++i) {
    Result r = results[i].get();
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
    EXPECT_EQ(r.verdict.reason(), "o" + std::to_string(i) + "@x");
  }
}

TEST_P(StreamClientTest, ASlowCallDoesNotHoldBackTheOthersAndCancelReachesTheWorker) {
  ScriptedWorker worker;
  CancelFn cancel;
  auto slow = Start(Target(worker), "slow@x", 10s, &cancel);
  if (streaming()) {
    ASSERT_TRUE(worker.WaitFor([&] { return worker.held.size() == 1; }));
  }
  Result fast = Call(Target(worker), "fast@x");
  ASSERT_TRUE(fast.status.ok());
  EXPECT_EQ(fast.verdict.reason(), "fast@x");
  if (!streaming()) {
    cancel();
    EXPECT_EQ(slow.get().status.error_code(), grpc::StatusCode::CANCELLED);
    return;
  }
  EXPECT_EQ(slow.wait_for(0s), std::future_status::timeout);
  uint64_t slow_id = 0;
  ASSERT_TRUE(worker.WaitFor([&] {
    slow_id = worker.held.begin()->first;
    return true;
  }));
  cancel();
  EXPECT_EQ(slow.get().status.error_code(), grpc::StatusCode::CANCELLED);
  // The worker hears of it with the next request.
  ASSERT_TRUE(Call(Target(worker), "next@x").status.ok());
  ASSERT_TRUE(worker.WaitFor([&] { return !worker.cancels.empty(); }));
  EXPECT_EQ(worker.cancels, std::vector<uint64_t>{slow_id});
  // Its late answer is dropped (the callback ran once: Start checks).
  worker.Release({slow_id});
  ASSERT_TRUE(Call(Target(worker), "after@x").status.ok());
}

TEST_P(StreamClientTest, TheDeadlineFiresWithoutAnAnswer) {
  ScriptedWorker worker;
  // An answered call first: while no stream to the endpoint ever answered, an expiry also ends
  // the stream (AWorkerThatNeverRunsOnEvents... below).
  ASSERT_TRUE(Call(Target(worker), "warm@x").status.ok());
  worker.hold_all = streaming();
  auto late = Start(Target(worker), streaming() ? "held@x" : "slow@x", 50ms);
  if (!streaming()) {
    // A unary worker answers; the deadline is gRPC's own there. Nothing to hold: skip the rest.
    late.get();
    return;
  }
  Result r = late.get();
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  uint64_t id = 0;
  ASSERT_TRUE(worker.WaitFor([&] {
    id = worker.held.begin()->first;
    return true;
  }));
  worker.Release({id});  // too late: dropped
  worker.hold_all = false;
  ASSERT_TRUE(Call(Target(worker), "next@x").status.ok());
  ASSERT_TRUE(worker.WaitFor([&] { return !worker.cancels.empty(); }));
  EXPECT_EQ(worker.cancels, std::vector<uint64_t>{id})
      << "an expired call is cancelled on the worker";
}

TEST_P(StreamClientTest, AStreamBrokenMidFlightIsRetriedOnTheOtherReplica) {
  if (!streaming()) GTEST_SKIP() << "the unary retry is covered by the fan-out and replica tests";
  ScriptedWorker a, b;
  // Both streams open and answered once: a stream that broke before its first answer would be
  // replayed on the same replica by the channel's own retry policy instead.
  auto answered = [](ScriptedWorker& w) {
    bool yes = false;
    w.WaitFor([&] { return (yes = !w.messages.empty()), true; });
    return yes;
  };
  for (int i = 0; i < 200 && !(answered(a) && answered(b)); ++i) {
    ASSERT_TRUE(Call(Target(a, b), "warm@x").status.ok());
  }
  ASSERT_TRUE(answered(a) && answered(b));
  auto result = Start(Target(a, b), "slow-retry@x");
  ScriptedWorker* first = nullptr;
  for (int i = 0; i < 1000 && !first; ++i) {
    if (a.held_count() == 1) first = &a;
    if (b.held_count() == 1) first = &b;
    if (!first) std::this_thread::sleep_for(5ms);
  }
  ASSERT_NE(first, nullptr);
  ScriptedWorker* second = first == &a ? &b : &a;
  first->Break();
  ASSERT_TRUE(second->WaitFor([&] { return second->held.size() == 1; }));
  uint64_t id = 0;
  ASSERT_TRUE(second->WaitFor([&] {
    id = second->held.begin()->first;
    return true;
  }));
  second->Release({id});
  Result r = result.get();
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.verdict.reason(), "slow-retry@x");
  EXPECT_EQ(channels_->Get(Target(a, b))->retries(), 1u);
}

TEST_P(StreamClientTest, AWorkerWithOnlyOnEventLosesNoEvent) {
  ScriptedWorker a(/*serve_stream=*/false), b(/*serve_stream=*/false);
  std::vector<std::future<Result>> results;
  for (int i = 0; i < 20; ++i)
    results.push_back(Start(Target(a, b), "u" + std::to_string(i) + "@x"));
  for (int i = 0; i < 20; ++i) {
    Result r = results[i].get();
    ASSERT_TRUE(r.status.ok()) << i << ": " << r.status.error_message();
    EXPECT_EQ(r.verdict.reason(), "u" + std::to_string(i) + "@x");
  }
  EXPECT_EQ(a.unary_calls.load() + b.unary_calls.load(), 20);
  if (streaming()) {
    EXPECT_GE(listener_.fallbacks.load(), 1);
  }
  // The endpoints stay unary (no new probe for a while): the next events go straight to OnEvent.
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Call(Target(a, b), "v@x").status.ok());
  EXPECT_EQ(a.unary_calls.load() + b.unary_calls.load(), 25);
}

TEST_P(StreamClientTest, AWorkerThatNeverRunsOnEventsCostsOneEventThenGoesUnary) {
  AsyncOnEventOnlyWorker worker;
  const std::string target = "ipv4:" + worker.address;
  // Over a stream, the first event waits on a stream nobody reads: it expires, the stream is
  // ended as silent and the endpoint goes unary. Unary, it is simply answered.
  Result first = Start(target, "first@x", 200ms).get();
  if (streaming()) {
    EXPECT_EQ(first.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
    // Reported once the stream has ended (right after).
    for (int i = 0; i < 5000 && listener_.fallbacks.load() == 0; ++i)
      std::this_thread::sleep_for(1ms);
    EXPECT_EQ(listener_.fallbacks.load(), 1);
  } else {
    EXPECT_TRUE(first.status.ok());
  }
  for (int i = 0; i < 5; ++i) {
    Result r = Call(target, "n" + std::to_string(i) + "@x");
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
    EXPECT_EQ(r.verdict.reason(), "n" + std::to_string(i) + "@x");
  }
}

TEST_P(StreamClientTest, AnErrorAnswerIsThatStatusAndEjectsTheReplica) {
  ScriptedWorker a, b;
  const auto target = Target(a, b);
  for (int i = 0; i < 200 && channels_->Get(target)->ejections() == 0; ++i) {
    Result r = Call(target, "error@x");
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INTERNAL);
  }
  EXPECT_GE(channels_->Get(target)->ejections(), 1u);
  if (streaming()) {
    ScriptedWorker c;
    EXPECT_EQ(Call(Target(c), "weird@x").status.error_code(), grpc::StatusCode::UNKNOWN);
  }
}

TEST_P(StreamClientTest, TraceContextTravelsWithEachRequest) {
  ScriptedWorker worker;
  const std::string tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  Result r = Start(Target(worker), "t@x", 10s, nullptr, tp).get();
  ASSERT_TRUE(r.status.ok());
  if (!streaming()) return;  // metadata: covered by the server tests
  ASSERT_TRUE(worker.WaitFor([&] { return worker.traceparents.size() == 1; }));
  EXPECT_EQ(worker.traceparents[0], tp);
}

TEST_P(StreamClientTest, SdkWorkersServeTheStream) {
  std::vector<std::unique_ptr<worker::Worker>> workers;
  std::string target = "ipv4:";
  for (int i = 0; i < 2; ++i) {
    worker::WorkerOptions o;
    o.handle_signals = false;
    o.drain_timeout = 1s;
    auto w = std::make_unique<worker::Worker>(o);
    w->On(v1::EVENT_TYPE_INBOUND_COMMAND, "RCPT", [](const worker::EventContext& ctx) {
      return worker::Verdict::Reject(550, "5.7.1", "no").Reason(ctx.recipient());
    });
    const int port = w->Start("127.0.0.1:0");
    target += (i ? "," : "") + std::string("127.0.0.1:") + std::to_string(port);
    workers.push_back(std::move(w));
  }
  std::vector<std::future<Result>> results;
  for (int i = 0; i < 50; ++i) results.push_back(Start(target, "s" + std::to_string(i) + "@x"));
  for (int i = 0; i < 50; ++i) {
    Result r = results[i].get();
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
    EXPECT_EQ(r.verdict.reason(), "s" + std::to_string(i) + "@x");
  }
  if (streaming()) {
    EXPECT_GE(listener_.batches.load(), 1);
    EXPECT_EQ(listener_.fallbacks.load(), 0);
  } else {
    EXPECT_EQ(listener_.batches.load(), 0);
  }
  client_->CloseStreams();
  for (auto& w : workers) w->Shutdown();
}

TEST_P(StreamClientTest, AReplacedStreamStillDeliversWhatItOwes) {
  if (!streaming()) GTEST_SKIP() << "a stream property";
  ScriptedWorker worker;
  // Lifetime 0: every call replaces the stream (half-closing the previous one).
  auto stream = std::make_shared<WorkerStream>(
      "t", worker.address, grpc::CreateChannel(worker.address, grpc::InsecureChannelCredentials()),
      &cqs_, &listener_, std::chrono::steady_clock::duration::zero());
  std::promise<Result> first, second;
  auto done = [](std::promise<Result>* p) {
    return [p](const grpc::Status& s, v1::Verdict v, bool unsupported) {
      EXPECT_FALSE(unsupported);
      p->set_value({s, std::move(v)});
    };
  };
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  ASSERT_NE(stream->Send(*Rcpt("slow-a@x"), "", deadline, done(&first)), 0u);
  ASSERT_TRUE(worker.WaitFor([&] { return worker.held.size() == 1; }));
  uint64_t held_id = 0;
  ASSERT_TRUE(worker.WaitFor([&] {
    held_id = worker.held.begin()->first;
    return true;
  }));
  ASSERT_NE(stream->Send(*Rcpt("b@x"), "", deadline, done(&second)), 0u);
  Result b = second.get_future().get();
  ASSERT_TRUE(b.status.ok()) << b.status.error_message();
  EXPECT_EQ(b.verdict.reason(), "b@x");
  ASSERT_TRUE(worker.WaitFor([&] { return worker.streams_opened == 2; }));
  // The first stream, half-closed, still owes slow-a: its answer arrives, then it ends.
  worker.Release({held_id});
  Result a = first.get_future().get();
  ASSERT_TRUE(a.status.ok()) << a.status.error_message();
  EXPECT_EQ(a.verdict.reason(), "slow-a@x");
  EXPECT_TRUE(worker.WaitFor([&] { return worker.streams_ended >= 1; }));
  stream->Close();
}

TEST_P(StreamClientTest, ASdkReplicaDrainingUnderLoadCostsNoEvent) {
  std::vector<std::unique_ptr<worker::Worker>> workers;
  std::string target = "ipv4:";
  for (int i = 0; i < 2; ++i) {
    worker::WorkerOptions o;
    o.handle_signals = false;
    o.drain_timeout = 5s;
    auto w = std::make_unique<worker::Worker>(o);
    w->On(v1::EVENT_TYPE_INBOUND_COMMAND, "RCPT", [](const worker::EventContext& ctx) {
      return worker::Verdict::Reject(550, "5.7.1", "no").Reason(ctx.recipient());
    });
    const int port = w->Start("127.0.0.1:0");
    target += (i ? "," : "") + std::string("127.0.0.1:") + std::to_string(port);
    workers.push_back(std::move(w));
  }
  std::atomic<bool> stop{false};
  std::atomic<int> answered{0}, failed{0};
  // Eight callers keep events in flight while one replica drains and stops.
  std::vector<std::thread> callers;
  for (int c = 0; c < 8; ++c) {
    callers.emplace_back([&, c] {
      for (int i = 0; !stop.load() || i < 20; ++i) {
        const std::string rcpt = "c" + std::to_string(c) + "-" + std::to_string(i) + "@x";
        Result r = Call(target, rcpt);
        if (r.status.ok() && r.verdict.reason() == rcpt) {
          ++answered;
        } else {
          ++failed;
          ADD_FAILURE() << rcpt << ": " << r.status.error_code() << " " << r.status.error_message();
        }
      }
    });
  }
  const auto until = std::chrono::steady_clock::now() + 30s;  // a bound, not an assertion
  auto wait_for = [&](int n) {
    while (answered.load() < n && failed.load() == 0 && std::chrono::steady_clock::now() < until) {
      std::this_thread::yield();
    }
  };
  wait_for(100);
  workers[0]->Shutdown();
  wait_for(answered.load() + 100);
  stop = true;
  for (auto& t : callers) t.join();
  EXPECT_EQ(failed.load(), 0);
  client_->CloseStreams();
  workers[1]->Shutdown();
}

INSTANTIATE_TEST_SUITE_P(Transports, StreamClientTest,
                         ::testing::Values(WorkerTransport::kStream, WorkerTransport::kUnary),
                         [](const auto& info) {
                           return info.param == WorkerTransport::kStream ? "Stream" : "Unary";
                         });

}  // namespace
}  // namespace smtpbridge::dispatcher
