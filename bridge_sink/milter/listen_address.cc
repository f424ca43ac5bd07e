#include "milter/listen_address.h"

#include <charconv>

namespace smtpbridge::milter {
namespace {

std::optional<uint16_t> ParsePort(const std::string& s) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty() || value > 65535) return std::nullopt;
  return static_cast<uint16_t>(value);
}

}  // namespace

std::optional<ListenAddress> ParseListenAddress(const std::string& text, std::string* error) {
  auto fail = [&](const std::string& why) -> std::optional<ListenAddress> {
    if (error) *error = "listen address \"" + text + "\": " + why;
    return std::nullopt;
  };
  ListenAddress out;
  for (const char* prefix : {"unix:", "local:"}) {
    const std::string p(prefix);
    if (text.rfind(p, 0) == 0) {
      out.is_unix = true;
      out.path = text.substr(p.size());
      if (out.path.empty()) return fail("empty socket path");
      return out;
    }
  }
  std::string rest = text;
  for (const char* prefix : {"inet:", "inet6:"}) {
    const std::string p(prefix);
    if (rest.rfind(p, 0) == 0) rest = rest.substr(p.size());
  }
  // Sendmail style: port@host.
  if (auto at = rest.find('@'); at != std::string::npos) {
    auto port = ParsePort(rest.substr(0, at));
    if (!port) return fail("bad port");
    out.port = *port;
    out.host = rest.substr(at + 1);
  } else {
    auto colon = rest.rfind(':');
    if (colon == std::string::npos) return fail("expected host:port");
    auto port = ParsePort(rest.substr(colon + 1));
    if (!port) return fail("bad port");
    out.port = *port;
    out.host = rest.substr(0, colon);
  }
  if (out.host.size() >= 2 && out.host.front() == '[' && out.host.back() == ']')
    out.host = out.host.substr(1, out.host.size() - 2);
  if (out.host.empty()) return fail("empty host");
  return out;
}

}  // namespace smtpbridge::milter
