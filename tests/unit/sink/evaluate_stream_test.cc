// GrpcDispatcherClient over Dispatcher.EvaluateStream, against an in-process test dispatcher on
// port 0: which transport it picks (and when), answers matched by stream_id, cancellation,
// deadlines, a stream that breaks, a dispatcher without the method, and the once-a-second
// replacement of the stream; batching: what queues behind a write in flight goes out in one
// message (up to the cap), one evaluation alone is written at once.
//
// "A write in flight" is made a fact, not a timing guess: the client completes its writes on one
// thread (its queue's), and a test holds that thread inside an answer's callback. A write issued
// then stays in flight, and what comes behind it stays queued, until the test lets go.
#include <gmock/gmock.h>
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "core/grpc_dispatcher_client.h"
#include "test_dispatcher.h"

namespace smtpbridge::sink::testing {
namespace {

using Clock = std::chrono::system_clock;

struct Answer {
  grpc::Status status;
  v1::EvaluateResponse response;
};

v1::EvaluateRequest Request(const std::string& argument) {
  v1::EvaluateRequest r;
  r.mutable_event()->set_type(v1::EVENT_TYPE_INBOUND_COMMAND);
  r.mutable_event()->mutable_command()->set_keyword("RCPT");
  r.mutable_event()->mutable_command()->set_argument(argument);
  return r;
}

// One evaluation: the request stays alive until the answer (the client's contract).
struct Evaluation {
  explicit Evaluation(const std::string& argument) : request(Request(argument)) {}
  v1::EvaluateRequest request;
  std::promise<Answer> promise;
  std::future<Answer> future = promise.get_future();
  std::atomic<int> answers{0};
  std::shared_ptr<DispatcherClient::Call> call;

  void Start(GrpcDispatcherClient& client, Clock::duration within = std::chrono::seconds(10)) {
    call = client.Evaluate(request, Clock::now() + within,
                           [this](const grpc::Status& s, v1::EvaluateResponse r) {
                             if (answers.fetch_add(1) == 0) promise.set_value({s, std::move(r)});
                           });
  }
  Answer Wait() {
    if (future.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
      ADD_FAILURE() << "no answer";
      return {grpc::Status(grpc::StatusCode::UNKNOWN, "no answer"), {}};
    }
    return future.get();
  }
};

std::unique_ptr<GrpcDispatcherClient> Client(
    const TestDispatcher& d, Transport transport,
    std::chrono::seconds lifetime = std::chrono::seconds(1)) {
  auto client = std::make_unique<GrpcDispatcherClient>(
      grpc::CreateChannel(d.target(), grpc::InsecureChannelCredentials()));
  client->set_stream_lifetime(lifetime);
  client->set_transport(transport);
  return client;
}

// GetInterests through the client, as the sink's refresh does.
void FetchInterests(GrpcDispatcherClient& client) {
  std::promise<void> done;
  auto call =
      client.GetInterests({}, Clock::now() + std::chrono::seconds(10),
                          [&](const grpc::Status&, v1::GetInterestsResponse) { done.set_value(); });
  ASSERT_EQ(done.get_future().wait_for(std::chrono::seconds(20)), std::future_status::ready);
}

TEST(EvaluateStream, ManyEvaluationsOnOneStreamGetTheirOwnAnswers) {
  TestDispatcher dispatcher("127.0.0.1:0", nullptr, /*serve_stream=*/true);
  auto client = Client(dispatcher, Transport::kStream);
  std::vector<std::unique_ptr<Evaluation>> evals;
  for (int i = 0; i < 50; ++i)
    evals.push_back(std::make_unique<Evaluation>(i % 2 ? "reject-" + std::to_string(i) : "ok"));
  for (auto& e : evals) e->Start(*client);
  for (int i = 0; i < 50; ++i) {
    const Answer a = evals[i]->Wait();
    ASSERT_TRUE(a.status.ok()) << a.status.error_message();
    EXPECT_EQ(a.response.verdict().action(), i % 2 ? v1::ACTION_REJECT : v1::ACTION_CONTINUE) << i;
  }
  EXPECT_TRUE(client->streaming());
  EXPECT_EQ(dispatcher.stream_evaluations(), 50);
  EXPECT_EQ(dispatcher.evaluations(), 0);  // no unary call
  // Started back to back: how many shared a message depends on the machine, so it is reported,
  // not asserted (the tests below make batching a fact).
  const auto stats = client->stream_stats();
  EXPECT_EQ(stats.events_sent, 50u);
  EXPECT_EQ(stats.answers_received, 50u);
  RecordProperty("request_messages", static_cast<int>(stats.messages_sent));
  RecordProperty("answer_messages", static_cast<int>(stats.messages_received));
  evals.clear();
}

TEST(EvaluateStream, AnswersComeBackInCompletionOrder) {
  TestDispatcher dispatcher("127.0.0.1:0", nullptr, true);
  auto client = Client(dispatcher, Transport::kStream);
  Evaluation late("late");
  Evaluation quick("reject");
  late.Start(*client);
  quick.Start(*client);
  EXPECT_EQ(quick.Wait().response.verdict().action(), v1::ACTION_REJECT);
  EXPECT_EQ(late.future.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  dispatcher.ReleaseLate();
  const Answer a = late.Wait();
  EXPECT_TRUE(a.status.ok());
  EXPECT_EQ(a.response.verdict().action(), v1::ACTION_CONTINUE);
}

TEST(EvaluateStream, AutoStreamsOnlyOnceTheDispatcherSaysItServesIt) {
  TestDispatcher dispatcher("127.0.0.1:0", nullptr, true);
  auto client = Client(dispatcher, Transport::kAuto);
  Evaluation first("ok");
  first.Start(*client);
  EXPECT_TRUE(first.Wait().status.ok());
  EXPECT_EQ(dispatcher.evaluations(), 1);  // unary: nothing said yet
  EXPECT_FALSE(client->streaming());

  FetchInterests(*client);  // evaluate_stream unset: still unary
  Evaluation second("ok");
  second.Start(*client);
  EXPECT_TRUE(second.Wait().status.ok());
  EXPECT_EQ(dispatcher.evaluations(), 2);

  v1::GetInterestsResponse offer;
  offer.set_evaluate_batches(true);
  dispatcher.SetInterests(offer);
  FetchInterests(*client);
  Evaluation third("reject");
  third.Start(*client);
  EXPECT_EQ(third.Wait().response.verdict().action(), v1::ACTION_REJECT);
  EXPECT_TRUE(client->streaming());
  EXPECT_EQ(dispatcher.evaluations(), 2);
  EXPECT_EQ(dispatcher.stream_evaluations(), 1);
}

TEST(EvaluateStream, UnaryTransportNeverStreams) {
  TestDispatcher dispatcher("127.0.0.1:0", nullptr, true);
  v1::GetInterestsResponse offer;
  offer.set_evaluate_batches(true);
  dispatcher.SetInterests(offer);
  auto client = Client(dispatcher, Transport::kUnary);
  FetchInterests(*client);
  Evaluation e("ok");
  e.Start(*client);
  EXPECT_TRUE(e.Wait().status.ok());
  EXPECT_FALSE(client->streaming());
  EXPECT_EQ(dispatcher.evaluations(), 1);
  EXPECT_EQ(dispatcher.streams(), 0);
}

TEST(EvaluateStream, ADispatcherWithoutTheMethodGetsUnaryCallsInstead) {
  TestDispatcher dispatcher;  // EvaluateStream answers UNIMPLEMENTED
  auto client = Client(dispatcher, Transport::kStream);
  std::vector<std::unique_ptr<Evaluation>> evals;
  for (int i = 0; i < 5; ++i) evals.push_back(std::make_unique<Evaluation>("reject"));
  for (auto& e : evals) e->Start(*client);
  for (auto& e : evals) {
    const Answer a = e->Wait();
    ASSERT_TRUE(a.status.ok()) << a.status.error_message();
    EXPECT_EQ(a.response.verdict().action(), v1::ACTION_REJECT);
  }
  EXPECT_FALSE(client->streaming());
  EXPECT_EQ(dispatcher.evaluations(), 5);
  evals.clear();
}

TEST(EvaluateStream, CancelAnswersCancelledOnceAndTheLateAnswerIsIgnored) {
  TestDispatcher dispatcher("127.0.0.1:0", nullptr, true);
  auto client = Client(dispatcher, Transport::kStream);
  Evaluation late("late");
  late.Start(*client);
  late.call->Cancel();
  late.call->Cancel();  // twice: still one answer
  const Answer a = late.Wait();
  EXPECT_EQ(a.status.error_code(), grpc::StatusCode::CANCELLED);
  dispatcher.ReleaseLate();
  // The stream carries on, and the released answer for the cancelled request goes nowhere.
  Evaluation next("reject");
  next.Start(*client);
  EXPECT_EQ(next.Wait().response.verdict().action(), v1::ACTION_REJECT);
  EXPECT_EQ(late.answers.load(), 1);
}

TEST(EvaluateStream, AnEvaluationPastItsDeadlineFailsWithDeadlineExceeded) {
  TestDispatcher dispatcher("127.0.0.1:0", nullptr, true);
  auto client = Client(dispatcher, Transport::kStream);
  Evaluation late("late");
  late.Start(*client, std::chrono::milliseconds(50));  // nobody cancels it
  const Answer a = late.Wait();
  EXPECT_EQ(a.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  dispatcher.ReleaseLate();
  EXPECT_EQ(late.answers.load(), 1);
}

// A stream that ends UNAVAILABLE (a dispatcher draining, restarting or gone) hands what it still
// owed to unary calls, within their deadlines, instead of failing them into the fallback; the
// next evaluation opens a new stream.
TEST(EvaluateStream, ABrokenStreamRetriesWhatItOwesAsUnaryCallsAndTheNextEvaluationOpensANewOne) {
  TestDispatcher dispatcher("127.0.0.1:0", nullptr, true);
  auto client = Client(dispatcher, Transport::kStream);
  Evaluation owed("late");
  owed.Start(*client);
  Evaluation breaker("unavailable");  // the test dispatcher ends the stream with UNAVAILABLE
  breaker.Start(*client);
  // Retried as a unary call, which the test dispatcher answers UNAVAILABLE too.
  EXPECT_EQ(breaker.Wait().status.error_code(), grpc::StatusCode::UNAVAILABLE);
  dispatcher.ReleaseLate();  // lets the stream's handler and the retried "late" call return
  const Answer retried = owed.Wait();
  EXPECT_TRUE(retried.status.ok()) << retried.status.error_message();
  EXPECT_EQ(owed.answers.load(), 1);
  EXPECT_EQ(dispatcher.evaluations(), 2);  // unary calls: both were retried that way
  Evaluation next("reject");
  next.Start(*client);
  const Answer a = next.Wait();
  ASSERT_TRUE(a.status.ok()) << a.status.error_message();
  EXPECT_EQ(a.response.verdict().action(), v1::ACTION_REJECT);
  EXPECT_GE(dispatcher.streams(), 2);
}

TEST(EvaluateStream, TheStreamIsReplacedAndTheOldOneStillDeliversWhatItOwes) {
  TestDispatcher dispatcher("127.0.0.1:0", nullptr, true);
  auto client = Client(dispatcher, Transport::kStream);
  Evaluation owed("late");
  owed.Start(*client, std::chrono::seconds(30));
  // Past the stream's lifetime (one second), the next evaluation goes on a new stream, and the
  // old one is half-closed.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  Evaluation next("reject");
  next.Start(*client);
  EXPECT_EQ(next.Wait().response.verdict().action(), v1::ACTION_REJECT);
  EXPECT_EQ(dispatcher.streams(), 2);
  dispatcher.ReleaseLate();
  const Answer a = owed.Wait();
  ASSERT_TRUE(a.status.ok()) << a.status.error_message();
  EXPECT_EQ(a.response.verdict().action(), v1::ACTION_CONTINUE);
}

TEST(EvaluateStream, ClientDestructionWithAnOpenStreamAndAnAnsweredCallIsClean) {
  TestDispatcher dispatcher("127.0.0.1:0", nullptr, true);
  {
    auto client = Client(dispatcher, Transport::kStream);
    Evaluation e("ok");
    e.Start(*client);
    EXPECT_TRUE(e.Wait().status.ok());
    e.call.reset();  // the caller drops its handle, then the client goes
  }
  EXPECT_EQ(dispatcher.streams(), 1);
}

// A dispatcher of the previous release announced its (unbatched) stream in GetInterests field 4,
// now reserved: this sink does not take that for evaluate_batches and keeps to unary calls.
TEST(EvaluateStream, ADispatcherOfThePreviousReleaseGetsUnaryCalls) {
  TestDispatcher dispatcher("127.0.0.1:0", nullptr, true);
  v1::GetInterestsResponse old_offer;
  ASSERT_TRUE(old_offer.ParseFromString(std::string("\x20\x01", 2)));  // field 4 (varint) = true
  ASSERT_FALSE(old_offer.evaluate_batches());
  dispatcher.SetInterests(old_offer);
  auto client = Client(dispatcher, Transport::kAuto);
  FetchInterests(*client);
  Evaluation e("reject");
  e.Start(*client);
  EXPECT_EQ(e.Wait().response.verdict().action(), v1::ACTION_REJECT);
  EXPECT_FALSE(client->streaming());
  EXPECT_EQ(dispatcher.evaluations(), 1);
  EXPECT_EQ(dispatcher.streams(), 0);
}

// Holds the client's queue thread inside the callback of an answer, on an open stream with no
// write in flight, until Release() (or the end of the test). Meanwhile nothing the client
// started can complete: a write issued now stays in flight.
class QueueThreadHold {
 public:
  // On a client made with a long stream lifetime (no replacement in the middle of the test).
  QueueThreadHold(GrpcDispatcherClient& client, TestDispatcher& dispatcher)
      : request_(Request("gated-hold")) {
    const int read_before = dispatcher.stream_evaluations();
    call_ = client.Evaluate(request_, Clock::now() + std::chrono::seconds(30),
                            [state = state_](const grpc::Status& status, v1::EvaluateResponse) {
                              state->ok = status.ok();
                              state->entered.set_value();
                              state->release_future.wait_for(std::chrono::seconds(20));
                            });
    // Its request read by the dispatcher (which holds the answer), then its write completed:
    // no write in flight any more.
    if (!dispatcher.WaitStreamEvaluations(read_before + 1)) {
      ADD_FAILURE() << "the hold's request never reached the dispatcher";
      return;
    }
    for (int i = 0; i < 20000 && client.stream_stats().writing; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (client.stream_stats().writing) {
      ADD_FAILURE() << "the hold's write never completed";
      return;
    }
    dispatcher.OpenGate();
    if (state_->entered_future.wait_for(std::chrono::seconds(20)) != std::future_status::ready ||
        !state_->ok) {
      ADD_FAILURE() << "the hold's answer never came";
      return;
    }
    held_ = true;
  }
  ~QueueThreadHold() { Release(); }

  bool held() const { return held_; }
  void Release() {
    if (!released_) state_->release.set_value();
    released_ = true;
  }

 private:
  // Shared with the callback, which may still be returning when the hold is gone.
  struct State {
    std::promise<void> entered;
    std::future<void> entered_future = entered.get_future();
    std::promise<void> release;
    std::shared_future<void> release_future = release.get_future().share();
    std::atomic<bool> ok{false};
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
  v1::EvaluateRequest request_;  // read only until the callback starts (before held())
  std::shared_ptr<DispatcherClient::Call> call_;
  bool held_ = false;
  bool released_ = false;
};

// The arguments of the requests in each message the dispatcher read after the first `skip`.
std::vector<std::vector<std::string>> MessagesAfter(const TestDispatcher& d, size_t skip) {
  auto messages = d.stream_messages();
  messages.erase(messages.begin(),
                 messages.begin() + static_cast<long>(std::min(skip, messages.size())));
  return messages;
}

// Never waits to fill a batch: with no write in flight, an evaluation is written from Evaluate()
// itself. It reaches the dispatcher while the client's queue thread (which would run any timer
// or later step) is held.
TEST(EvaluateStream, OneEvaluationFindingNoWriteInFlightIsWrittenAtOnceAlone) {
  TestDispatcher dispatcher("127.0.0.1:0", nullptr, true);
  auto client = Client(dispatcher, Transport::kStream, std::chrono::seconds(60));
  QueueThreadHold hold(*client, dispatcher);
  ASSERT_TRUE(hold.held());
  Evaluation alone("reject-alone");
  alone.Start(*client);
  EXPECT_TRUE(dispatcher.WaitStreamEvaluations(2));
  hold.Release();
  EXPECT_EQ(alone.Wait().response.verdict().action(), v1::ACTION_REJECT);
  using ::testing::ElementsAre;
  EXPECT_THAT(dispatcher.stream_messages(),
              ElementsAre(ElementsAre("gated-hold"), ElementsAre("reject-alone")));
}

// What queues behind a write in flight goes out as one message as soon as it completes, and
// each request gets its own answer (the dispatcher answers them in one message too).
TEST(EvaluateStream, EvaluationsQueuedBehindAWriteGoOutInOneMessageEachWithItsOwnAnswer) {
  TestDispatcher dispatcher("127.0.0.1:0", nullptr, true);
  auto registry = std::make_shared<prometheus::Registry>();  // outlives the client
  auto client = Client(dispatcher, Transport::kStream, std::chrono::seconds(60));
  client->ExportMetrics(*registry);
  QueueThreadHold hold(*client, dispatcher);
  ASSERT_TRUE(hold.held());
  Evaluation in_flight("first");  // written at once; its write cannot complete while held
  in_flight.Start(*client);
  ASSERT_TRUE(dispatcher.WaitStreamEvaluations(2));
  std::vector<std::unique_ptr<Evaluation>> queued;
  for (const char* argument : {"reject-c", "d", "reject-e", "f"})
    queued.push_back(std::make_unique<Evaluation>(argument));
  for (auto& e : queued) e->Start(*client);
  hold.Release();
  EXPECT_EQ(in_flight.Wait().response.verdict().action(), v1::ACTION_CONTINUE);
  for (auto& e : queued) {
    const Answer a = e->Wait();
    ASSERT_TRUE(a.status.ok()) << a.status.error_message();
    const bool reject = e->request.event().command().argument().starts_with("reject");
    EXPECT_EQ(a.response.verdict().action(), reject ? v1::ACTION_REJECT : v1::ACTION_CONTINUE)
        << e->request.event().command().argument();
  }
  using ::testing::ElementsAre;
  EXPECT_THAT(dispatcher.stream_messages(),
              ElementsAre(ElementsAre("gated-hold"), ElementsAre("first"),
                          ElementsAre("reject-c", "d", "reject-e", "f")));
  const auto stats = client->stream_stats();
  EXPECT_EQ(stats.messages_sent, 3u);
  EXPECT_EQ(stats.events_sent, 6u);
  EXPECT_EQ(stats.answers_received, 6u);
  EXPECT_EQ(stats.messages_received, 3u);  // the four answers came in one message
  // The operator's view: smtpbridge_sink_stream_batch_events{direction="sent"}.
  bool seen = false;
  for (const auto& family : registry->Collect()) {
    if (family.name != "smtpbridge_sink_stream_batch_events") continue;
    for (const auto& metric : family.metric) {
      if (metric.label.size() == 1 && metric.label[0].value == "sent") {
        seen = true;
        EXPECT_EQ(metric.histogram.sample_count, 3u);
        EXPECT_EQ(metric.histogram.sample_sum, 6.0);
      }
    }
  }
  EXPECT_TRUE(seen);
}

// A late request in a batch holds back none of the others: their answers come first, out of the
// order they were sent in, each matched by its stream_id.
TEST(EvaluateStream, ALateRequestInABatchHoldsBackNoneOfTheOthers) {
  TestDispatcher dispatcher("127.0.0.1:0", nullptr, true);
  auto client = Client(dispatcher, Transport::kStream, std::chrono::seconds(60));
  QueueThreadHold hold(*client, dispatcher);
  ASSERT_TRUE(hold.held());
  Evaluation in_flight("first");
  in_flight.Start(*client);
  ASSERT_TRUE(dispatcher.WaitStreamEvaluations(2));
  Evaluation late("late");
  Evaluation quick_reject("reject-quick");
  Evaluation quick("quick");
  late.Start(*client);
  quick_reject.Start(*client);
  quick.Start(*client);
  hold.Release();
  EXPECT_EQ(quick_reject.Wait().response.verdict().action(), v1::ACTION_REJECT);
  EXPECT_EQ(quick.Wait().response.verdict().action(), v1::ACTION_CONTINUE);
  EXPECT_EQ(late.future.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  dispatcher.ReleaseLate();
  const Answer a = late.Wait();
  ASSERT_TRUE(a.status.ok()) << a.status.error_message();
  EXPECT_EQ(a.response.verdict().action(), v1::ACTION_CONTINUE);
  using ::testing::ElementsAre;
  EXPECT_THAT(MessagesAfter(dispatcher, 2),
              ElementsAre(ElementsAre("late", "reject-quick", "quick")));
}

// The cap (64 events a message) splits a long queue; every request is still answered.
TEST(EvaluateStream, TheCapSplitsALongQueue) {
  TestDispatcher dispatcher("127.0.0.1:0", nullptr, true);
  auto client = Client(dispatcher, Transport::kStream, std::chrono::seconds(60));
  QueueThreadHold hold(*client, dispatcher);
  ASSERT_TRUE(hold.held());
  Evaluation in_flight("first");
  in_flight.Start(*client);
  ASSERT_TRUE(dispatcher.WaitStreamEvaluations(2));
  std::vector<std::unique_ptr<Evaluation>> queued;
  for (int i = 0; i < 150; ++i)
    queued.push_back(std::make_unique<Evaluation>((i % 3 ? "n-" : "reject-") + std::to_string(i)));
  for (auto& e : queued) e->Start(*client);
  hold.Release();
  EXPECT_TRUE(in_flight.Wait().status.ok());
  for (size_t i = 0; i < queued.size(); ++i) {
    const Answer a = queued[i]->Wait();
    ASSERT_TRUE(a.status.ok()) << a.status.error_message();
    EXPECT_EQ(a.response.verdict().action(), i % 3 ? v1::ACTION_CONTINUE : v1::ACTION_REJECT) << i;
  }
  std::vector<size_t> sizes;
  std::vector<std::string> order;
  for (const auto& message : MessagesAfter(dispatcher, 2)) {
    sizes.push_back(message.size());
    order.insert(order.end(), message.begin(), message.end());
  }
  EXPECT_THAT(sizes, ::testing::ElementsAre(64u, 64u, 22u));
  ASSERT_EQ(order.size(), 150u);
  for (size_t i = 0; i < order.size(); ++i)
    EXPECT_EQ(order[i], queued[i]->request.event().command().argument());
}

}  // namespace
}  // namespace smtpbridge::sink::testing
