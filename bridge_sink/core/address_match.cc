#include "core/address_match.h"

#include <arpa/inet.h>
#include <strings.h>

#include <cctype>
#include <cstring>

namespace smtpbridge::sink {
namespace {

// Parses an address into its 16-byte IPv6 form (IPv4 as ::ffff:a.b.c.d); `v4` says which.
bool ParseAddress(std::string_view text, std::array<uint8_t, 16>* out, bool* v4) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  if (text.size() > 5 && strncasecmp(text.data(), "IPv6:", 5) == 0) text.remove_prefix(5);
  if (text.empty() || text.size() > 63) return false;
  const std::string s(text);
  in_addr a4{};
  if (inet_pton(AF_INET, s.c_str(), &a4) == 1) {
    out->fill(0);
    (*out)[10] = 0xff;
    (*out)[11] = 0xff;
    std::memcpy(out->data() + 12, &a4, 4);
    *v4 = true;
    return true;
  }
  in6_addr a6{};
  if (inet_pton(AF_INET6, s.c_str(), &a6) == 1) {
    std::memcpy(out->data(), &a6, 16);
    *v4 = false;
    return true;
  }
  return false;
}

}  // namespace

std::optional<Cidr> Cidr::Parse(std::string_view text) {
  const auto slash = text.find('/');
  Cidr cidr;
  bool v4 = false;
  if (!ParseAddress(text.substr(0, slash), &cidr.bytes_, &v4)) return std::nullopt;
  const int max_bits = v4 ? 32 : 128;
  int bits = max_bits;
  if (slash != std::string_view::npos) {
    const auto digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3) return std::nullopt;
    bits = 0;
    for (char c : digits) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
      bits = bits * 10 + (c - '0');
    }
    if (bits > max_bits) return std::nullopt;
  }
  cidr.prefix_bits_ = v4 ? 96 + bits : bits;
  return cidr;
}

bool Cidr::Contains(std::string_view address) const {
  std::array<uint8_t, 16> bytes{};
  bool v4 = false;
  if (!ParseAddress(address, &bytes, &v4)) return false;
  int bits = prefix_bits_;
  for (int i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
    const uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
    if ((bytes[i] & mask) != (bytes_[i] & mask)) return false;
  }
  return true;
}

}  // namespace smtpbridge::sink
