// The milter host's YAML section: durations keep their unit, bad values name file, line and field.
#include "milter/host_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>

#include "support/temp_dir.h"

namespace smtpbridge::milter {
namespace {

using smtpbridge::testing::TempDir;
using ::testing::HasSubstr;

std::string ErrorOf(const std::string& yaml) {
  TempDir dir;
  HostConfig config;
  try {
    LoadHostConfig(dir.Write("milter.yaml", yaml).string(), config);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

TEST(HostConfig, SubSecondIdleTimeoutKeepsItsValue) {
  TempDir dir;
  HostConfig config;
  LoadHostConfig(dir.Write("milter.yaml", "milter:\n  idle_timeout: 500ms\n").string(), config);
  EXPECT_EQ(config.server.idle_timeout, std::chrono::milliseconds(500));
}

TEST(HostConfig, IdleTimeoutInMinutes) {
  TempDir dir;
  HostConfig config;
  LoadHostConfig(dir.Write("milter.yaml", "milter:\n  idle_timeout: 2m\n").string(), config);
  EXPECT_EQ(config.server.idle_timeout, std::chrono::minutes(2));
}

TEST(HostConfig, SubMillisecondIdleTimeoutIsRefusedWithFileAndLine) {
  const auto error = ErrorOf("milter:\n  instance: 1\n  idle_timeout: 200us\n");
  EXPECT_THAT(error, HasSubstr("milter.yaml:3: milter.idle_timeout: expected at least 1ms"));
}

TEST(HostConfig, WriteTimeoutHasItsOwnValueAndBounds) {
  TempDir dir;
  HostConfig config;
  LoadHostConfig(dir.Write("milter.yaml", "milter:\n  write_timeout: 750ms\n").string(), config);
  EXPECT_EQ(config.server.write_timeout, std::chrono::milliseconds(750));
  EXPECT_EQ(config.server.idle_timeout, ServerOptions{}.idle_timeout);
  EXPECT_THAT(ErrorOf("milter:\n  write_timeout: 10us\n"),
              HasSubstr(":2: milter.write_timeout: expected at least 1ms"));
}

TEST(HostConfig, ZeroBudgetIsRefused) {
  EXPECT_THAT(ErrorOf("milter:\n  budget_command: 0ms\n"),
              HasSubstr(":2: milter.budget_command: expected a duration"));
}

TEST(HostConfig, UnknownFieldIsRefused) {
  EXPECT_THAT(ErrorOf("milter:\n  idle: 5s\n"), HasSubstr(":2: milter.idle: unknown field"));
}

}  // namespace
}  // namespace smtpbridge::milter
