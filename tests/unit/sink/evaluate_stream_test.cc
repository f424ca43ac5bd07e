// GrpcDispatcherClient over Dispatcher.EvaluateStream, against an in-process test dispatcher on
// port 0: which transport it picks (and when), answers matched by stream_id, cancellation,
// deadlines, a stream that breaks, a dispatcher without the method, and the once-a-second
// replacement of the stream.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include <grpcpp/create_channel.h>

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
    call = client.Evaluate(request, Clock::now() + within, [this](const grpc::Status& s, v1::EvaluateResponse r) {
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

std::unique_ptr<GrpcDispatcherClient> Client(const TestDispatcher& d, Transport transport) {
  auto client = std::make_unique<GrpcDispatcherClient>(
      grpc::CreateChannel(d.target(), grpc::InsecureChannelCredentials()));
  client->set_transport(transport);
  return client;
}

// GetInterests through the client, as the sink's refresh does.
void FetchInterests(GrpcDispatcherClient& client) {
  std::promise<void> done;
  auto call = client.GetInterests({}, Clock::now() + std::chrono::seconds(10),
                                  [&](const grpc::Status&, v1::GetInterestsResponse) { done.set_value(); });
  ASSERT_EQ(done.get_future().wait_for(std::chrono::seconds(20)), std::future_status::ready);
}

TEST(EvaluateStream, ManyEvaluationsOnOneStreamGetTheirOwnAnswers) {
  TestDispatcher dispatcher("127.0.0.1:0", nullptr, /*serve_stream=*/true);
  auto client = Client(dispatcher, Transport::kStream);
  std::vector<std::unique_ptr<Evaluation>> evals;
  for (int i = 0; i < 50; ++i) evals.push_back(std::make_unique<Evaluation>(i % 2 ? "reject-" + std::to_string(i) : "ok"));
  for (auto& e : evals) e->Start(*client);
  for (int i = 0; i < 50; ++i) {
    const Answer a = evals[i]->Wait();
    ASSERT_TRUE(a.status.ok()) << a.status.error_message();
    EXPECT_EQ(a.response.verdict().action(), i % 2 ? v1::ACTION_REJECT : v1::ACTION_CONTINUE) << i;
  }
  EXPECT_TRUE(client->streaming());
  EXPECT_EQ(dispatcher.stream_evaluations(), 50);
  EXPECT_EQ(dispatcher.evaluations(), 0);  // no unary call
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
  offer.set_evaluate_stream(true);
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
  offer.set_evaluate_stream(true);
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

}  // namespace
}  // namespace smtpbridge::sink::testing
