#include "example_policy.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "bindings/loader.h"

namespace smtpbridge::example {
namespace {

using namespace std::chrono_literals;
using worker::EventContext;
using worker::Responder;

struct Outcome {
  std::atomic<int> completions{0};
  grpc::Status status;
  v1::Verdict verdict;
};

// Runs one request through the handlers the policy registers on a (never started) worker.
void Dispatch(ExamplePolicy& policy, const v1::SinkRequest& request, Outcome& out) {
  static worker::WorkerOptions options;
  worker::Worker worker(options);
  policy.Register(worker);
  worker.router().Dispatch(EventContext(request), Responder([&out](grpc::Status s, v1::Verdict v) {
                             out.status = std::move(s);
                             out.verdict = std::move(v);
                             out.completions.fetch_add(1);
                           }));
}

v1::SinkRequest Rcpt(const std::string& to) {
  v1::SinkRequest r;
  r.mutable_event()->set_type(v1::EVENT_TYPE_INBOUND_COMMAND);
  r.mutable_event()->mutable_command()->set_keyword("RCPT");
  r.mutable_event()->mutable_command()->set_argument("TO:<" + to + ">");
  return r;
}

TEST(HeaderFlag, ParsesNameAndValueAndRefusesGarbage) {
  const auto h = ParseHeaderFlag("X-Policy:  checked ");
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->first, "X-Policy");
  EXPECT_EQ(h->second, "checked");
  EXPECT_FALSE(ParseHeaderFlag("no colon").has_value());
  EXPECT_FALSE(ParseHeaderFlag(": value").has_value());
  EXPECT_FALSE(ParseHeaderFlag("X-A: b\r\nX-Injected: c").has_value());
}

// The example uses the bindings' glob (smtpbridge/common/glob.h): classes work, and a '*' in a
// recipient is an ordinary character (its own copy matched "*a" against "*ba" literally).
TEST(ExamplePolicy, FlagGlobsUseTheBindingsSyntax) {
  ExamplePolicy policy({.reject_rcpt = {"*a", "user[0-9]@example.com"}});
  const auto action = [&](const std::string& to) {
    Outcome out;
    Dispatch(policy, Rcpt(to), out);
    return out.verdict.action();
  };
  EXPECT_EQ(action("*ba"), v1::ACTION_REJECT);
  EXPECT_EQ(action("user7@example.com"), v1::ACTION_REJECT);
  EXPECT_EQ(action("userx@example.com"), v1::ACTION_CONTINUE);
}

TEST(ExamplePolicy, RejectsRecipientsMatchingTheFlagGlobs) {
  ExamplePolicy policy({.reject_rcpt = {"blocked@*"}});
  Outcome out;
  Dispatch(policy, Rcpt("blocked@example.com"), out);
  ASSERT_EQ(out.completions.load(), 1);
  EXPECT_EQ(out.verdict.action(), v1::ACTION_REJECT);
  EXPECT_EQ(out.verdict.reply().code(), 550u);
  Outcome ok;
  Dispatch(policy, Rcpt("fine@example.com"), ok);
  EXPECT_EQ(ok.verdict.action(), v1::ACTION_CONTINUE);
}

TEST(ExamplePolicy, RejectsRecipientsFromTheBindingProperty) {
  ExamplePolicy policy({});
  auto r = Rcpt("b@example.com");
  (*r.mutable_binding()->mutable_sink_properties())["blocked_recipients"] = "a@example.com, b@*";
  Outcome out;
  Dispatch(policy, r, out);
  EXPECT_EQ(out.verdict.action(), v1::ACTION_REJECT);
}

// #14: the shipped example bindings, as they are, drive the example worker: the check-recipient
// binding's `blocked` property rejects blocked@example.com without any --reject-rcpt flag.
TEST(ExamplePolicy, TheShippedExampleBindingsBlockTheirRecipient) {
  const auto loaded = dispatcher::LoadBindingsFile(SMTPBRIDGE_EXAMPLE_BINDINGS);
  ASSERT_TRUE(loaded.ok()) << ::testing::PrintToString(loaded.errors);
  const dispatcher::CompiledBinding* check = nullptr;
  for (const auto& b : loaded.set->bindings()) {
    if (b.name() == "check-recipient") check = &b;
  }
  ASSERT_NE(check, nullptr);
  ExamplePolicy policy({});
  auto blocked = Rcpt("blocked@example.com");
  *blocked.mutable_binding() = check->proto;
  Outcome out;
  Dispatch(policy, blocked, out);
  EXPECT_EQ(out.verdict.action(), v1::ACTION_REJECT);
  auto fine = Rcpt("someone@example.com");
  *fine.mutable_binding() = check->proto;
  Outcome ok;
  Dispatch(policy, fine, ok);
  EXPECT_EQ(ok.verdict.action(), v1::ACTION_CONTINUE);
}

TEST(ExamplePolicy, SkipsBlockedOutboundRecipients) {
  ExamplePolicy policy({.reject_rcpt = {"blocked@*"}});
  v1::SinkRequest r;
  r.mutable_event()->set_type(v1::EVENT_TYPE_PER_RECIPIENT);
  r.mutable_event()->mutable_envelope()->add_recipients("blocked@x");
  Outcome out;
  Dispatch(policy, r, out);
  EXPECT_EQ(out.verdict.action(), v1::ACTION_SKIP_RECIPIENT);
}

TEST(ExamplePolicy, AddsTheHeaderAtEndOfData) {
  ExamplePolicy policy({.add_header = std::make_pair("X-Policy", "checked")});
  v1::SinkRequest r;
  r.mutable_event()->set_type(v1::EVENT_TYPE_INBOUND_COMMAND);
  r.mutable_event()->mutable_command()->set_keyword("_EOD");
  Outcome out;
  Dispatch(policy, r, out);
  EXPECT_EQ(out.verdict.action(), v1::ACTION_CONTINUE);
  ASSERT_EQ(out.verdict.edits_size(), 1);
  EXPECT_EQ(out.verdict.edits(0).add_header().name(), "X-Policy");
}

TEST(ExamplePolicy, FailRateOneAlwaysAnswersUnavailable) {
  ExamplePolicy policy({.fail_rate = 1.0});
  Outcome out;
  Dispatch(policy, Rcpt("x@y"), out);
  ASSERT_EQ(out.completions.load(), 1);
  EXPECT_EQ(out.status.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST(ExamplePolicy, CacheTtlMarksVerdictsReusableButNotEndOfData) {
  ExamplePolicy policy({.cache_ttl = std::chrono::seconds(10)});
  Outcome out;
  Dispatch(policy, Rcpt("x@y"), out);
  ASSERT_EQ(out.completions.load(), 1);
  EXPECT_EQ(out.verdict.cache_ttl().seconds(), 10);
  EXPECT_EQ(out.verdict.cache_scope(), v1::CACHE_SCOPE_UNSPECIFIED);
  v1::SinkRequest eod;
  eod.mutable_event()->set_type(v1::EVENT_TYPE_INBOUND_COMMAND);
  eod.mutable_event()->mutable_command()->set_keyword("_EOD");
  Outcome eod_out;
  Dispatch(policy, eod, eod_out);
  ASSERT_EQ(eod_out.completions.load(), 1);
  EXPECT_FALSE(eod_out.verdict.has_cache_ttl());
}

TEST(ExamplePolicy, HangNeverAnswers) {
  ExamplePolicy policy({.hang = true});
  Outcome out;
  Dispatch(policy, Rcpt("x@y"), out);
  EXPECT_EQ(out.completions.load(), 0);
}

TEST(ExamplePolicy, DelayAnswersFromTheTimerThread) {
  ExamplePolicy policy({.reject_rcpt = {"*"}, .delay = 300ms});
  Outcome out;
  const auto caller = std::this_thread::get_id();
  std::thread::id answered_on;
  {
    worker::Worker worker;
    policy.Register(worker);
    const auto r = Rcpt("x@y");
    worker.router().Dispatch(EventContext(r), Responder([&](grpc::Status s, v1::Verdict v) {
                               answered_on = std::this_thread::get_id();
                               out.verdict = std::move(v);
                               out.completions.fetch_add(1);
                             }));
  }
  for (int i = 0; i < 500 && out.completions.load() == 0; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(out.completions.load(), 1);
  EXPECT_NE(answered_on, caller);
  EXPECT_EQ(out.verdict.action(), v1::ACTION_REJECT);
}

}  // namespace
}  // namespace smtpbridge::example
