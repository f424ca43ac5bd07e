// The data phase's rules without I/O: DATA lines to a message or a refusal, BDAT chunks to DATA.
#include "message_collector.h"

#include <gtest/gtest.h>

namespace smtpbridge::proxy {
namespace {

// Feeds `input` through a LineReader with the text line limit, as HandleData does.
std::optional<Reply> Collect(const std::string& input, uint64_t max_size, std::string* message,
                             bool* complete, size_t max_line = 1000) {
  LineReader reader(max_line);
  reader.Append(input);
  DataCollector collector(max_size);
  *complete = false;
  while (auto line = reader.Next()) {
    if (collector.Add(*line)) {
      *complete = true;
      break;
    }
  }
  auto refusal = collector.Refusal();
  *message = collector.Take();
  return refusal;
}

TEST(DataCollector, KeepsTheMessageExactlyAsSent) {
  std::string message;
  bool complete = false;
  EXPECT_FALSE(
      Collect("Subject: x\r\n\r\n..stuffed\r\nline\r\n.\r\nQUIT\r\n", 1000, &message, &complete));
  EXPECT_TRUE(complete);
  EXPECT_EQ(message, "Subject: x\r\n\r\n..stuffed\r\nline\r\n");
}

TEST(DataCollector, Refusals) {
  std::string message;
  bool complete = false;
  auto r = Collect("a\nb\r\n.\r\n", 1000, &message, &complete);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->Text(), "554 5.6.0 Error: bare CR or LF in message data");
  EXPECT_TRUE(complete);  // read to the real end, never cut at "\n.\n"
  EXPECT_TRUE(message.empty());

  r = Collect(std::string(20, 'x') + "\r\n.\r\n", 1000, &message, &complete, 10);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->Text(), "554 5.6.0 Error: message line too long");

  r = Collect("0123456789\r\n0123456789\r\n.\r\n", 20, &message, &complete);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, 552);
  EXPECT_TRUE(message.empty());  // nothing kept past the limit
}

TEST(DataCollector, SizeCountsUnstuffedOctets) {
  std::string message;
  bool complete = false;
  EXPECT_FALSE(Collect("..ab\r\n.\r\n", 5, &message, &complete));  // ".ab" + CRLF = 5
  EXPECT_TRUE(Collect("..abc\r\n.\r\n", 5, &message, &complete));
}

TEST(ChunkedToData, StuffsAndTerminates) {
  std::string m = ".dot\r\nlast";
  EXPECT_FALSE(ChunkedToData(&m));
  EXPECT_EQ(m, "..dot\r\nlast\r\n");
  std::string empty;
  EXPECT_FALSE(ChunkedToData(&empty));
  EXPECT_EQ(empty, "");
  for (std::string bare : {"a\nb\r\n", "a\rb\r\n", "a\r"}) {
    EXPECT_TRUE(ChunkedToData(&bare)) << bare;
  }
}

}  // namespace
}  // namespace smtpbridge::proxy
