// Fuzzes the milter v6 framing and command decoder: any byte stream from an MTA must decode or
// fail cleanly, and whatever decodes must re-encode to a packet that decodes to the same value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "milter/milter_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace smtpbridge::milter;
  PacketReader reader(64 * 1024);
  // Feed in two pieces so partial packets are exercised too.
  const std::string input(reinterpret_cast<const char*>(data), size);
  const std::size_t split = size == 0 ? 0 : data[0] % (size + 1);
  reader.Feed(std::string_view(input).substr(0, split));
  Packet packet;
  bool fed_rest = false;
  for (int i = 0; i < 10000; ++i) {
    auto status = reader.Next(packet);
    if (status == PacketReader::Status::kError) break;
    if (status == PacketReader::Status::kNeedMore) {
      if (fed_rest) break;
      reader.Feed(std::string_view(input).substr(split));
      fed_rest = true;
      continue;
    }
    std::string error;
    if (auto command = DecodeCommand(packet, &error)) {
      auto again = DecodeCommand(EncodeCommandPacket(*command), &error);
      if (!again || !(*again == *command)) std::abort();
    }
    if (auto reply = DecodeReply(packet, &error)) {
      auto again = DecodeReply(EncodeReplyPacket(*reply), &error);
      if (!again || !(*again == *reply)) std::abort();
    }
  }
  return 0;
}
