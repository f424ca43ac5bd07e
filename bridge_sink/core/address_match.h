// Matching helper for the local rules: client addresses against CIDR blocks (IPv4 and IPv6,
// IPv4-mapped IPv6 matches IPv4 blocks). Globs are smtpbridge/common/glob.h, as in bindings.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace smtpbridge::sink {

class Cidr {
 public:
  // "192.0.2.0/24", "2001:db8::/32", or a bare address (a /32 or /128). nullopt when malformed.
  static std::optional<Cidr> Parse(std::string_view text);

  // `address` as hosts report it: "192.0.2.7", "2001:db8::1", "[192.0.2.7]", "IPv6:2001:db8::1".
  bool Contains(std::string_view address) const;

 private:
  std::array<uint8_t, 16> bytes_{};  // IPv4 blocks are stored IPv4-mapped
  int prefix_bits_ = 0;              // over the 128-bit form
};

}  // namespace smtpbridge::sink
