// libFuzzer target: the proxy's client-side input path without I/O. The input is split into
// lines by LineReader (with the 512-octet limit), each line goes through ParseCommand, and the
// whole input is also taken as a DATA body by MessageData. Invariants: never crash; a parsed
// command's canonical form is one line (no CR/LF/NUL) and parses back to the same verb.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "command_parser.h"
#include "line_reader.h"
#include "message_data.h"

using namespace smtpbridge::proxy;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  LineReader reader(512);
  // Feed in two pieces to exercise partial lines.
  reader.Append(input.substr(0, size / 2));
  std::string raw_data;
  auto drain = [&] {
    while (auto line = reader.Next()) {
      if (line->too_long || line->bare_cr_or_lf) continue;
      raw_data.append(line->text).append("\r\n");
      const Command cmd = ParseCommand(line->text);
      if (cmd.error) continue;
      const std::string canonical = cmd.Canonical();
      if (canonical.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) std::abort();
      const Command again = ParseCommand(canonical);
      if (again.verb != cmd.verb || (again.error && cmd.verb != Verb::kUnknown)) std::abort();
    }
  };
  drain();
  reader.Append(input.substr(size / 2));
  drain();
  MessageData message(raw_data);
  (void)message.HeaderValues();
  bool truncated = false;
  (void)message.Body(64, &truncated);
  std::string why;
  message.AddHeader("X-Fuzz", "1", &why);
  if (message.Wire().find("X-Fuzz: 1\r\n") == std::string::npos) std::abort();
  return 0;
}
