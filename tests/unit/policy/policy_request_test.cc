// The request parser: a table of inputs, limits, and several requests on one connection.
#include "policy/policy_request.h"

#include <gtest/gtest.h>

namespace smtpbridge::policy {
namespace {

using namespace std::string_literals;

struct Case {
  const char* name;
  std::string input;
  int requests;  // complete requests before the end or the error
  bool error;
  const char* error_has;
};

TEST(PolicyRequestReader, Table) {
  const std::vector<Case> cases = {
      {"one request", "request=smtpd_access_policy\nprotocol_state=RCPT\n\n", 1, false, ""},
      {"two requests", "a=1\n\nb=2\n\n", 2, false, ""},
      {"crlf lines", "a=1\r\nb=2\r\n\r\n", 1, false, ""},
      {"incomplete", "a=1\nb=2\n", 0, false, ""},
      {"empty value", "sender=\n\n", 1, false, ""},
      {"value with =", "ccert_subject=CN=x,O=y\n\n", 1, false, ""},
      {"missing =", "garbage\n\n", 0, true, "name=value"},
      {"empty name", "=x\n\n", 0, true, "name=value"},
      {"empty request", "\n", 0, true, "empty request"},
      {"nul byte", "a=\0b\n\n"s, 0, true, "NUL"},
      {"long line", "a=" + std::string(9000, 'x') + "\n\n", 0, true, "line longer"},
      {"long unterminated line", std::string(9000, 'x'), 0, true, "line longer"},
  };
  for (const auto& c : cases) {
    RequestReader reader;
    reader.Feed(c.input);
    int got = 0;
    PolicyRequest r;
    RequestReader::Status s;
    while ((s = reader.Next(r)) == RequestReader::Status::kRequest) ++got;
    EXPECT_EQ(got, c.requests) << c.name;
    EXPECT_EQ(s == RequestReader::Status::kError, c.error) << c.name;
    if (c.error) {
      EXPECT_NE(reader.error().find(c.error_has), std::string::npos)
          << c.name << ": " << reader.error();
    }
  }
}

TEST(PolicyRequestReader, AttributesInOrderAndByteByByte) {
  const std::string input =
      "request=smtpd_access_policy\nprotocol_state=RCPT\nccert_subject=CN=a=b\n\n";
  RequestReader reader;
  PolicyRequest r;
  int got = 0;
  for (char ch : input) {
    reader.Feed(std::string(1, ch));
    while (reader.Next(r) == RequestReader::Status::kRequest) ++got;
  }
  ASSERT_EQ(got, 1);
  ASSERT_EQ(r.attributes.size(), 3u);
  EXPECT_EQ(r.Get("protocol_state"), "RCPT");
  EXPECT_EQ(r.Get("ccert_subject"), "CN=a=b");
  EXPECT_TRUE(r.Has("request"));
  EXPECT_FALSE(r.Has("sender"));
  EXPECT_EQ(r.Get("sender"), "");
}

TEST(PolicyRequestReader, AttributeAndSizeLimits) {
  RequestReader::Limits limits;
  limits.max_attributes = 3;
  RequestReader many(limits);
  many.Feed("a=1\nb=2\nc=3\nd=4\n\n");
  PolicyRequest r;
  EXPECT_EQ(many.Next(r), RequestReader::Status::kError);
  EXPECT_NE(many.error().find("attributes"), std::string::npos);

  limits = {};
  limits.max_request = 64;
  RequestReader big(limits);
  for (int i = 0; i < 10; ++i) big.Feed("name" + std::to_string(i) + "=value\n");
  EXPECT_EQ(big.Next(r), RequestReader::Status::kError);
  EXPECT_NE(big.error().find("larger"), std::string::npos);
  EXPECT_EQ(big.Next(r), RequestReader::Status::kError);  // stays failed
}

}  // namespace
}  // namespace smtpbridge::policy
