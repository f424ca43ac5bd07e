// The pieces every host's main() shares (host/host_main.h, host/duration_flag.h): the listen
// flags' checks and the flag durations' bounds, with the errors naming the flag.
#include "host/host_main.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>
#include <thread>

#include "host/duration_flag.h"

namespace smtpbridge::host {
namespace {

using ::testing::HasSubstr;

std::string ErrorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

TEST(ListenFlags, FallbackAddressWhenNoFlag) {
  ListenFlags flags;
  const auto address = flags.Resolve("inet:8891@127.0.0.1");
  EXPECT_FALSE(address.is_unix);
  EXPECT_EQ(address.host, "127.0.0.1");
  EXPECT_EQ(address.port, 8891);
}

TEST(ListenFlags, SocketModeAndOwnerApplyToUnixSocketsOnly) {
  ListenFlags unix_flags{
      .listen = "unix:/run/m.sock", .socket_mode = "0660", .socket_owner = ":mail"};
  const auto address = unix_flags.Resolve("ignored:1");
  EXPECT_EQ(address.mode, 0660u);
  EXPECT_EQ(address.group, "mail");

  ListenFlags tcp_flags{.listen = "127.0.0.1:0", .socket_mode = "0660", .socket_owner = ""};
  EXPECT_THAT(ErrorOf([&] { tcp_flags.Resolve(""); }), HasSubstr("need --listen unix:PATH"));
  ListenFlags bad_mode{.listen = "unix:/x", .socket_mode = "rw", .socket_owner = ""};
  EXPECT_THAT(ErrorOf([&] { bad_mode.Resolve(""); }), HasSubstr("--socket-mode: "));
  ListenFlags bad_address{.listen = "nonsense", .socket_mode = "", .socket_owner = ""};
  EXPECT_THAT(ErrorOf([&] { bad_address.Resolve(""); }), HasSubstr("listen address \"nonsense\""));
}

TEST(DurationFlags, TimeoutsKeepSubSecondValuesAndRefuseBelowAMillisecond) {
  EXPECT_EQ(MillisecondsFlag("500ms", "--write-timeout"), std::chrono::milliseconds(500));
  EXPECT_EQ(MillisecondsFlag("1m", "--idle-timeout"), std::chrono::minutes(1));
  EXPECT_THAT(ErrorOf([] { MillisecondsFlag("200us", "--write-timeout"); }),
              HasSubstr("--write-timeout: expected at least 1ms"));
  EXPECT_THAT(ErrorOf([] { MillisecondsFlag("soon", "--idle-timeout"); }),
              HasSubstr("--idle-timeout: expected a duration"));
}

TEST(CommonFlags, ZeroThreadsMeansHalfTheCoresAtLeastOne) {
  CommonFlags flags;
  EXPECT_EQ(flags.IoThreads(), std::max(1u, std::thread::hardware_concurrency() / 2));
  flags.threads = 3;
  EXPECT_EQ(flags.IoThreads(), 3u);
}

TEST(CommonFlags, DrainTimeoutNamesItsFlag) {
  CommonFlags flags;
  EXPECT_EQ(flags.DrainTimeout(), std::chrono::seconds(10));
  flags.drain_timeout = "0s";
  EXPECT_THAT(ErrorOf([&] { flags.DrainTimeout(); }), HasSubstr("--drain-timeout"));
}

}  // namespace
}  // namespace smtpbridge::host
