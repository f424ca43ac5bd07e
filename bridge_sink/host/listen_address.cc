#include "host/listen_address.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>

namespace smtpbridge::host {
namespace {

std::optional<uint16_t> ParsePort(const std::string& s) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty() || value > 65535)
    return std::nullopt;
  return static_cast<uint16_t>(value);
}

std::string Unbracket(std::string host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    return host.substr(1, host.size() - 2);
  return host;
}

}  // namespace

std::optional<HostPort> ParseHostPort(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  const auto port = ParsePort(text.substr(colon + 1));
  std::string host = Unbracket(text.substr(0, colon));
  if (!port || host.empty()) return std::nullopt;
  return HostPort{std::move(host), *port};
}

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
    if (rest.rfind(':') == std::string::npos) return fail("expected host:port");
    auto host_port = ParseHostPort(rest);
    if (!host_port)
      return fail(ParsePort(rest.substr(rest.rfind(':') + 1)) ? "empty host" : "bad port");
    out.host = std::move(host_port->host);
    out.port = host_port->port;
  }
  out.host = Unbracket(std::move(out.host));
  if (out.host.empty()) return fail("empty host");
  return out;
}

std::optional<unsigned> ParseSocketMode(const std::string& text, std::string* error) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 8);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value > 0777) {
    if (error) *error = "socket mode \"" + text + "\" is not octal permission bits, e.g. 0660";
    return std::nullopt;
  }
  return value;
}

void ParseSocketOwner(const std::string& text, ListenAddress* address) {
  const auto colon = text.find(':');
  address->owner = text.substr(0, colon);
  address->group = colon == std::string::npos ? "" : text.substr(colon + 1);
}

namespace {

bool AllDigits(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

uid_t LookUpUser(const std::string& name) {
  if (AllDigits(name)) return static_cast<uid_t>(std::stoul(name));
  struct passwd pw {};
  struct passwd* found = nullptr;
  char buf[4096];
  if (getpwnam_r(name.c_str(), &pw, buf, sizeof buf, &found) != 0 || !found) {
    throw std::runtime_error("socket owner \"" + name + "\": no such user");
  }
  return found->pw_uid;
}

gid_t LookUpGroup(const std::string& name) {
  if (AllDigits(name)) return static_cast<gid_t>(std::stoul(name));
  struct group gr {};
  struct group* found = nullptr;
  char buf[4096];
  if (getgrnam_r(name.c_str(), &gr, buf, sizeof buf, &found) != 0 || !found) {
    throw std::runtime_error("socket group \"" + name + "\": no such group");
  }
  return found->gr_gid;
}

}  // namespace

void ApplySocketPermissions(const ListenAddress& address) {
  if (!address.is_unix) return;
  if (!address.owner.empty() || !address.group.empty()) {
    const uid_t uid = address.owner.empty() ? static_cast<uid_t>(-1) : LookUpUser(address.owner);
    const gid_t gid = address.group.empty() ? static_cast<gid_t>(-1) : LookUpGroup(address.group);
    if (::chown(address.path.c_str(), uid, gid) != 0) {
      throw std::runtime_error("chown " + address.path + ": " + std::strerror(errno));
    }
  }
  if (address.mode && ::chmod(address.path.c_str(), static_cast<mode_t>(*address.mode)) != 0) {
    throw std::runtime_error("chmod " + address.path + ": " + std::strerror(errno));
  }
}

}  // namespace smtpbridge::host
