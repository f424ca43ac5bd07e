// The verdict cache: scopes, expiry and the size bound.
#include "dispatch/verdict_cache.h"

#include <gtest/gtest.h>

#include "smtpbridge/v1/names.h"

namespace smtpbridge::dispatcher {
namespace {

using namespace std::chrono_literals;

v1::Event Event(const std::string& client, const std::string& sender, const std::string& rcpt) {
  v1::Event e;
  e.set_type(v1::EVENT_TYPE_INBOUND_COMMAND);
  e.mutable_session()->set_session_id("s-" + client);
  e.mutable_session()->mutable_client()->set_address(client);
  e.mutable_envelope()->set_sender(sender);
  e.mutable_envelope()->set_has_sender(true);
  e.mutable_envelope()->set_recipient(rcpt);
  e.mutable_command()->set_keyword("RCPT");
  e.mutable_command()->set_argument("TO:<" + rcpt + ">");
  return e;
}

v1::Verdict Cacheable(v1::CacheScope scope, std::chrono::seconds ttl) {
  v1::Verdict v;
  v.set_action(v1::ACTION_REJECT);
  *v.mutable_cache_ttl() = v1::ToProtoDuration(ttl);
  v.set_cache_scope(scope);
  return v;
}

const Clock::TimePoint kT0 = Clock::TimePoint{} + 1h;

TEST(VerdictCacheTest, ScopesDecideWhichEventsShareAVerdict) {
  VerdictCache cache;
  cache.Store("b", Event("192.0.2.1", "s@x", "r@x"), Cacheable(v1::CACHE_SCOPE_CLIENT_ADDRESS, 60s),
              kT0);
  EXPECT_TRUE(cache.Lookup("b", Event("192.0.2.1", "other@x", "other@x"), kT0));
  EXPECT_FALSE(cache.Lookup("b", Event("192.0.2.2", "s@x", "r@x"), kT0));
  EXPECT_FALSE(cache.Lookup("other-binding", Event("192.0.2.1", "s@x", "r@x"), kT0));

  cache.Store("c", Event("192.0.2.1", "s@x", "r@x"), Cacheable(v1::CACHE_SCOPE_SENDER, 60s), kT0);
  EXPECT_TRUE(cache.Lookup("c", Event("192.0.2.9", "S@X", "z@x"), kT0));
  EXPECT_FALSE(cache.Lookup("c", Event("192.0.2.1", "t@x", "r@x"), kT0));

  cache.Store("d", Event("192.0.2.1", "s@x", "r@x"), Cacheable(v1::CACHE_SCOPE_UNSPECIFIED, 60s),
              kT0);
  EXPECT_TRUE(cache.Lookup("d", Event("192.0.2.7", "q@x", "r@x"), kT0));  // same command
  EXPECT_FALSE(cache.Lookup("d", Event("192.0.2.1", "s@x", "r2@x"), kT0));

  cache.Store("e", Event("192.0.2.1", "s@x", "r@x"), Cacheable(v1::CACHE_SCOPE_SESSION, 60s), kT0);
  EXPECT_TRUE(cache.Lookup("e", Event("192.0.2.1", "a@x", "b@x"), kT0));
  EXPECT_FALSE(cache.Lookup("e", Event("192.0.2.3", "s@x", "r@x"), kT0));
}

// A worker's TTL'd answer at end of data is about one message: it must not answer the next
// message (the sink's fresh cache refuses these too; both use common::Cacheable).
TEST(VerdictCacheTest, EndOfDataIsNeverCached) {
  VerdictCache cache;
  auto eod = Event("192.0.2.1", "s@x", "r@x");
  eod.mutable_command()->set_keyword("_EOD");
  eod.mutable_command()->clear_argument();
  for (auto scope :
       {v1::CACHE_SCOPE_UNSPECIFIED, v1::CACHE_SCOPE_SESSION, v1::CACHE_SCOPE_SENDER}) {
    cache.Store("b", eod, Cacheable(scope, 60s), kT0);
  }
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_FALSE(cache.Lookup("b", eod, kT0));
}

// A CONNECT has no command: under the default scope one client's answer must not become every
// client's.
TEST(VerdictCacheTest, ConnectUnderTheDefaultScopeIsPerClient) {
  VerdictCache cache;
  auto connect = [](const std::string& client) {
    v1::Event e;
    e.set_type(v1::EVENT_TYPE_CONNECT);
    e.mutable_session()->mutable_client()->set_address(client);
    return e;
  };
  cache.Store("b", connect("192.0.2.1"), Cacheable(v1::CACHE_SCOPE_UNSPECIFIED, 60s), kT0);
  EXPECT_TRUE(cache.Lookup("b", connect("192.0.2.1"), kT0));
  EXPECT_FALSE(cache.Lookup("b", connect("192.0.2.2"), kT0));
}

TEST(VerdictCacheTest, UnknownScopeIsNotCached) {
  VerdictCache cache;
  cache.Store("b", Event("192.0.2.1", "s@x", "r@x"),
              Cacheable(static_cast<v1::CacheScope>(42), 60s), kT0);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(VerdictCacheTest, ExpiresAfterTtlAndIgnoresZeroTtl) {
  VerdictCache cache;
  const auto e = Event("192.0.2.1", "s@x", "r@x");
  cache.Store("b", e, Cacheable(v1::CACHE_SCOPE_RECIPIENT, 0s), kT0);
  EXPECT_EQ(cache.size(), 0u);
  cache.Store("b", e, Cacheable(v1::CACHE_SCOPE_RECIPIENT, 5s), kT0);
  EXPECT_TRUE(cache.Lookup("b", e, kT0 + 4999ms));
  EXPECT_FALSE(cache.Lookup("b", e, kT0 + 5s));
  EXPECT_EQ(cache.size(), 0u);
}

TEST(VerdictCacheTest, BoundedWithLeastRecentlyUsedEviction) {
  VerdictCache cache(2);
  const auto a = Event("192.0.2.1", "s@x", "a@x");
  const auto b = Event("192.0.2.1", "s@x", "b@x");
  const auto c = Event("192.0.2.1", "s@x", "c@x");
  const auto v = Cacheable(v1::CACHE_SCOPE_RECIPIENT, 60s);
  cache.Store("k", a, v, kT0);
  cache.Store("k", b, v, kT0);
  EXPECT_TRUE(cache.Lookup("k", a, kT0));  // a is now the most recent
  cache.Store("k", c, v, kT0);             // evicts b
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_TRUE(cache.Lookup("k", a, kT0));
  EXPECT_FALSE(cache.Lookup("k", b, kT0));
  EXPECT_TRUE(cache.Lookup("k", c, kT0));
  cache.Clear();
  EXPECT_FALSE(cache.Lookup("k", a, kT0));
}

}  // namespace
}  // namespace smtpbridge::dispatcher
