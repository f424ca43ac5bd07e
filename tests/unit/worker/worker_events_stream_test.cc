// The C++ SDK's PolicySink.OnEvents (clients/cpp/src/events_stream.*), driven by a raw client
// stream over loopback: batches in, answers matched by stream_id, the same handlers as OnEvent.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "smtpbridge/v1/sink.grpc.pb.h"
#include "smtpbridge/worker/worker.h"

namespace smtpbridge::worker {
namespace {

using namespace std::chrono_literals;

WorkerOptions TestOptions() {
  WorkerOptions o;
  o.name = "stream-unit";
  o.handle_signals = false;
  o.drain_timeout = 5s;
  return o;
}

v1::SinkRequest Rcpt(uint64_t id, const std::string& recipient) {
  v1::SinkRequest r;
  r.set_stream_id(id);
  r.mutable_event()->set_type(v1::EVENT_TYPE_INBOUND_COMMAND);
  r.mutable_event()->mutable_command()->set_keyword("RCPT");
  r.mutable_event()->mutable_envelope()->set_recipient(recipient);
  return r;
}

class WorkerEventsStreamTest : public ::testing::Test {
 protected:
  void Start() {
    const int port = worker_.Start("127.0.0.1:0");
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::PolicySink::NewStub(channel_);
    stream_ = stub_->OnEvents(&context_);
  }

  // Reads answers until `n` arrived (or the stream ended); by stream_id.
  std::map<uint64_t, v1::SinkAnswer> ReadAnswers(size_t n, std::vector<uint64_t>* order = nullptr) {
    std::map<uint64_t, v1::SinkAnswer> got;
    v1::SinkAnswers answers;
    while (got.size() < n && stream_->Read(&answers)) {
      for (const auto& a : answers.answers()) {
        got[a.stream_id()] = a;
        if (order) order->push_back(a.stream_id());
      }
    }
    return got;
  }

  Worker worker_{TestOptions()};
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::PolicySink::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::SinkRequests, v1::SinkAnswers>> stream_;
};

TEST_F(WorkerEventsStreamTest, EveryRequestOfABatchIsAnsweredByItsId) {
  worker_.On(v1::EVENT_TYPE_INBOUND_COMMAND, "RCPT", [](const EventContext& ctx) {
    if (ctx.recipient() == "blocked@example.com") return Verdict::Reject(550, "5.7.1", "blocked");
    if (ctx.recipient() == "throw@example.com") throw std::runtime_error("boom");
    return Verdict::Continue();
  });
  Start();
  v1::SinkRequests batch;
  *batch.add_requests() = Rcpt(7, "ok@example.com");
  *batch.add_requests() = Rcpt(8, "blocked@example.com");
  *batch.add_requests() = Rcpt(9, "throw@example.com");
  ASSERT_TRUE(stream_->Write(batch));
  auto got = ReadAnswers(3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[7].verdict().action(), v1::ACTION_CONTINUE);
  EXPECT_EQ(got[8].verdict().action(), v1::ACTION_REJECT);
  EXPECT_EQ(got[9].error_code(),
            static_cast<int>(grpc::StatusCode::INTERNAL));  // as OnEvent's status
  // Half-closed with nothing owed: the worker ends the stream OK.
  stream_->WritesDone();
  v1::SinkAnswers more;
  EXPECT_FALSE(stream_->Read(&more));
  EXPECT_TRUE(stream_->Finish().ok());
}

TEST_F(WorkerEventsStreamTest, ASlowEventDoesNotHoldBackTheOthersAndCancelIsHonoured) {
  std::mutex mu;
  std::map<std::string, Responder> parked;
  std::promise<void> both_parked;
  worker_.OnAsync(v1::EVENT_TYPE_INBOUND_COMMAND, "RCPT",
                  [&](const EventContext& ctx, Responder r) {
                    if (ctx.recipient().rfind("slow", 0) != 0) {
                      r.Finish(Verdict::Continue());
                      return;
                    }
                    std::lock_guard lock(mu);
                    parked.emplace(ctx.recipient(), r);
                    if (parked.size() == 2) both_parked.set_value();
                  });
  Start();
  v1::SinkRequests batch;
  *batch.add_requests() = Rcpt(1, "slow1@example.com");
  *batch.add_requests() = Rcpt(2, "fast@example.com");
  *batch.add_requests() = Rcpt(3, "slow2@example.com");
  ASSERT_TRUE(stream_->Write(batch));
  // The fast one is answered while both slow ones are still running.
  auto first = ReadAnswers(1);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first.begin()->first, 2u);
  both_parked.get_future().wait();
  // Cancel slow1: its Responder is completed (the handler sees it), and no answer comes for it.
  v1::SinkRequests cancel;
  cancel.add_cancel(1);
  *cancel.add_requests() = Rcpt(4, "fast2@example.com");
  ASSERT_TRUE(stream_->Write(cancel));
  auto second = ReadAnswers(1);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second.begin()->first, 4u);
  {
    std::lock_guard lock(mu);
    EXPECT_TRUE(parked.at("slow1@example.com").finished());
    EXPECT_FALSE(parked.at("slow1@example.com").Finish(Verdict::Reject()));
    EXPECT_TRUE(parked.at("slow2@example.com").Finish(Verdict::Tempfail()));
  }
  auto third = ReadAnswers(1);
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third.begin()->first, 3u);
  EXPECT_EQ(third.begin()->second.verdict().action(), v1::ACTION_TEMPFAIL);
  stream_->WritesDone();
  v1::SinkAnswers none;
  EXPECT_FALSE(stream_->Read(&none)) << "no answer for the cancelled request";
  EXPECT_TRUE(stream_->Finish().ok());
}

TEST_F(WorkerEventsStreamTest, TraceparentAndTimeLeftReachTheHandler) {
  std::promise<std::pair<std::string, bool>> seen;
  worker_.On(v1::EVENT_TYPE_CONNECT, [&](const EventContext& ctx) {
    seen.set_value({ctx.traceparent(), ctx.deadline() < EventContext::Clock::now() + 10s});
    return Verdict::Continue();
  });
  Start();
  v1::SinkRequests batch;
  auto* r = batch.add_requests();
  r->set_stream_id(1);
  r->mutable_event()->set_type(v1::EVENT_TYPE_CONNECT);
  r->set_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  r->mutable_time_left()->set_nanos(500'000'000);
  ASSERT_TRUE(stream_->Write(batch));
  ASSERT_EQ(ReadAnswers(1).size(), 1u);
  auto [traceparent, bounded] = seen.get_future().get();
  EXPECT_EQ(traceparent, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  EXPECT_TRUE(bounded);
  stream_->WritesDone();
  EXPECT_TRUE(stream_->Finish().ok());
}

TEST_F(WorkerEventsStreamTest, DrainAnswersWhatIsOwedThenEndsTheStreamOk) {
  std::mutex mu;
  std::optional<Responder> parked;
  std::promise<void> started;
  worker_.OnAsync(v1::EVENT_TYPE_CONNECT, [&](const EventContext&, Responder r) {
    std::lock_guard lock(mu);
    parked.emplace(std::move(r));
    started.set_value();
  });
  Start();
  v1::SinkRequests batch;
  auto* r = batch.add_requests();
  r->set_stream_id(5);
  r->mutable_event()->set_type(v1::EVENT_TYPE_CONNECT);
  ASSERT_TRUE(stream_->Write(batch));
  started.get_future().wait();
  // The dispatcher never half-closes; the worker drains: the owed answer still arrives, then OK.
  auto shutdown = std::async(std::launch::async, [&] { worker_.Shutdown(); });
  std::thread answerer([&] {
    std::this_thread::sleep_for(50ms);  // while Shutdown() drains
    std::lock_guard lock(mu);
    parked->Finish(Verdict::Tempfail());
  });
  auto got = ReadAnswers(1);
  answerer.join();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[5].verdict().action(), v1::ACTION_TEMPFAIL);
  v1::SinkAnswers none;
  EXPECT_FALSE(stream_->Read(&none));
  const grpc::Status status = stream_->Finish();
  EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  shutdown.get();
}

TEST_F(WorkerEventsStreamTest, AStreamCancelledByTheDispatcherCancelsWhatIsRunning) {
  std::mutex mu;
  std::optional<Responder> parked;
  std::promise<void> started;
  worker_.OnAsync(v1::EVENT_TYPE_CONNECT, [&](const EventContext&, Responder r) {
    std::lock_guard lock(mu);
    parked.emplace(std::move(r));
    started.set_value();
  });
  Start();
  v1::SinkRequests batch;
  auto* r = batch.add_requests();
  r->set_stream_id(1);
  r->mutable_event()->set_type(v1::EVENT_TYPE_CONNECT);
  ASSERT_TRUE(stream_->Write(batch));
  started.get_future().wait();
  context_.TryCancel();
  EXPECT_EQ(stream_->Finish().error_code(), grpc::StatusCode::CANCELLED);
  bool finished = false;
  for (int i = 0; i < 5000 && !finished; ++i) {  // the worker hears of it asynchronously
    {
      std::lock_guard lock(mu);
      finished = parked->finished();
    }
    if (!finished) std::this_thread::sleep_for(1ms);
  }
  EXPECT_TRUE(finished) << "the running request's Responder is completed CANCELLED";
  std::lock_guard lock(mu);
  EXPECT_FALSE(parked->Finish(Verdict::Continue()));
}

TEST_F(WorkerEventsStreamTest, UnaryOnEventStillServed) {
  worker_.On(v1::EVENT_TYPE_CONNECT, [](const EventContext&) { return Verdict::Tempfail(); });
  Start();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  v1::SinkRequest r;
  r.mutable_event()->set_type(v1::EVENT_TYPE_CONNECT);
  v1::Verdict v;
  ASSERT_TRUE(stub_->OnEvent(&ctx, r, &v).ok());
  EXPECT_EQ(v.action(), v1::ACTION_TEMPFAIL);
  stream_->WritesDone();
  EXPECT_TRUE(stream_->Finish().ok());
}

TEST(WorkerEventsStreamThreadsTest, ABatchIsSpreadOverEveryQueueThread) {
  WorkerOptions options = TestOptions();
  options.threads = 2;
  Worker worker(options);
  std::mutex mu;
  std::set<std::thread::id> threads;
  worker.On(v1::EVENT_TYPE_INBOUND_COMMAND, "RCPT", [&](const EventContext&) {
    std::lock_guard lock(mu);
    threads.insert(std::this_thread::get_id());
    return Verdict::Continue();
  });
  const int port = worker.Start("127.0.0.1:0");
  auto stub = v1::PolicySink::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  auto stream = stub->OnEvents(&context);
  v1::SinkRequests batch;
  for (uint64_t id = 1; id <= 4; ++id) *batch.add_requests() = Rcpt(id, "u@example.com");
  ASSERT_TRUE(stream->Write(batch));
  std::set<uint64_t> answered;
  v1::SinkAnswers answers;
  while (answered.size() < 4 && stream->Read(&answers)) {
    for (const auto& a : answers.answers()) answered.insert(a.stream_id());
  }
  EXPECT_EQ(answered, (std::set<uint64_t>{1, 2, 3, 4}));
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(threads.size(), 2u) << "a sync handler per queue thread, as for unary calls";
  }
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
  worker.Shutdown();
}

}  // namespace
}  // namespace smtpbridge::worker
