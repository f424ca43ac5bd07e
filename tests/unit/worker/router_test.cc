#include "smtpbridge/worker/router.h"

#include <gtest/gtest.h>

#include <optional>
#include <stdexcept>

namespace smtpbridge::worker {
namespace {

struct Outcome {
  grpc::Status status;
  v1::Verdict verdict;
  int completions = 0;
};

// A Responder that records what the call was completed with.
Responder Recording(Outcome& out) {
  return Responder([&out](grpc::Status s, v1::Verdict v) {
    out.status = std::move(s);
    out.verdict = std::move(v);
    ++out.completions;
  });
}

v1::SinkRequest Request(v1::EventType type, std::string keyword = {}) {
  v1::SinkRequest r;
  r.mutable_event()->set_type(type);
  r.mutable_event()->mutable_command()->set_keyword(std::move(keyword));
  return r;
}

Outcome Route(const Router& router, const v1::SinkRequest& request) {
  Outcome out;
  router.Dispatch(EventContext(request), Recording(out));
  return out;
}

Handler Tagged(std::string tag) {
  return [tag](const EventContext&) { return std::move(Verdict::Continue().Tag(tag)); };
}

TEST(Router, UnhandledEventsContinue) {
  Router router;
  const auto out = Route(router, Request(v1::EVENT_TYPE_CONNECT));
  EXPECT_TRUE(out.status.ok());
  EXPECT_EQ(out.verdict.action(), v1::ACTION_CONTINUE);
  EXPECT_EQ(out.completions, 1);
}

TEST(Router, KeywordBeatsEventBeatsFallback) {
  Router router;
  router.Add(v1::EVENT_TYPE_INBOUND_COMMAND, "rcpt", Tagged("rcpt"));
  router.Add(v1::EVENT_TYPE_INBOUND_COMMAND, "", Tagged("inbound"));
  router.SetFallback([](const EventContext&, Responder r) {
    r.Finish(std::move(Verdict::Continue().Tag("other")));
  });

  EXPECT_EQ(Route(router, Request(v1::EVENT_TYPE_INBOUND_COMMAND, "RCPT")).verdict.tags(0), "rcpt");
  EXPECT_EQ(Route(router, Request(v1::EVENT_TYPE_INBOUND_COMMAND, "MAIL")).verdict.tags(0),
            "inbound");
  EXPECT_EQ(Route(router, Request(v1::EVENT_TYPE_SERVER_RESPONSE)).verdict.tags(0), "other");
  EXPECT_TRUE(router.Handles(v1::EVENT_TYPE_INBOUND_COMMAND, "rcpt"));
}

TEST(Router, KeywordOnlyRegistrationLeavesOtherKeywordsToContinue) {
  Router router;
  router.Add(v1::EVENT_TYPE_INBOUND_COMMAND, "RCPT",
             [](const EventContext&) { return Verdict::Reject(); });
  EXPECT_EQ(Route(router, Request(v1::EVENT_TYPE_INBOUND_COMMAND, "RCPT")).verdict.action(),
            v1::ACTION_REJECT);
  EXPECT_EQ(Route(router, Request(v1::EVENT_TYPE_INBOUND_COMMAND, "MAIL")).verdict.action(),
            v1::ACTION_CONTINUE);
  EXPECT_EQ(Route(router, Request(v1::EVENT_TYPE_PER_RECIPIENT)).verdict.action(),
            v1::ACTION_CONTINUE);
  EXPECT_FALSE(router.Handles(v1::EVENT_TYPE_PER_RECIPIENT, ""));
}

TEST(Router, ThrowingHandlerFailsWithInternal) {
  Router router;
  router.Add(v1::EVENT_TYPE_CONNECT, "",
             [](const EventContext&) -> Verdict { throw std::runtime_error("database down"); });
  const auto out = Route(router, Request(v1::EVENT_TYPE_CONNECT));
  EXPECT_EQ(out.status.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_NE(out.status.error_message().find("database down"), std::string::npos);
  EXPECT_EQ(out.completions, 1);
}

TEST(Router, InvalidVerdictFromHandlerFailsWithInternal) {
  Router router;
  router.Add(v1::EVENT_TYPE_CONNECT, "",
             [](const EventContext&) { return Verdict::Reject(250, "2.0.0", "not a rejection"); });
  EXPECT_EQ(Route(router, Request(v1::EVENT_TYPE_CONNECT)).status.error_code(),
            grpc::StatusCode::INTERNAL);
}

TEST(Router, AsyncHandlerCompletesLaterAndOnlyOnce) {
  Router router;
  std::optional<Responder> parked;
  router.AddAsync(v1::EVENT_TYPE_CONNECT, "",
                  [&](const EventContext&, Responder r) { parked.emplace(std::move(r)); });
  Outcome out;
  const auto request = Request(v1::EVENT_TYPE_CONNECT);
  router.Dispatch(EventContext(request), Recording(out));
  EXPECT_EQ(out.completions, 0);
  ASSERT_TRUE(parked.has_value());
  EXPECT_TRUE(parked->Finish(Verdict::Tempfail()));
  EXPECT_FALSE(parked->Fail(grpc::Status(grpc::StatusCode::CANCELLED, "late")));
  EXPECT_EQ(out.completions, 1);
  EXPECT_TRUE(out.status.ok());
  EXPECT_EQ(out.verdict.action(), v1::ACTION_TEMPFAIL);
}

TEST(Router, AsyncHandlerThatThrowsAfterAnsweringKeepsTheAnswer) {
  Router router;
  router.AddAsync(v1::EVENT_TYPE_CONNECT, "", [](const EventContext&, Responder r) {
    r.Finish(Verdict::Reject());
    throw std::runtime_error("after the fact");
  });
  const auto out = Route(router, Request(v1::EVENT_TYPE_CONNECT));
  EXPECT_TRUE(out.status.ok());
  EXPECT_EQ(out.verdict.action(), v1::ACTION_REJECT);
  EXPECT_EQ(out.completions, 1);
}

}  // namespace
}  // namespace smtpbridge::worker
