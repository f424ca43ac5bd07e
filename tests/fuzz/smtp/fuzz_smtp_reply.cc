// libFuzzer target: next-hop reply parsing (what a hostile next hop could send back).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "line_reader.h"
#include "reply_parser.h"

using namespace smtpbridge::proxy;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  LineReader reader(ReplyParser::kMaxLineLength + 2);
  reader.Append(std::string_view(reinterpret_cast<const char*>(data), size));
  ReplyParser parser;
  while (auto line = reader.Next()) {
    if (line->too_long || line->bare_cr_or_lf) return 0;
    const auto status = parser.Feed(line->text);
    if (status == ReplyParser::Status::kComplete) {
      const Reply reply = parser.Take();
      if (reply.code < 200 || reply.code > 599 || reply.lines.empty()) std::abort();
      if (reply.Wire().find(std::to_string(reply.code) + " ") == std::string::npos) std::abort();
    }
  }
  return 0;
}
