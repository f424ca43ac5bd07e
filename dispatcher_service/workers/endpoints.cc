#include "workers/endpoints.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <string_view>

namespace smtpbridge::dispatcher {
namespace {

std::vector<std::string> SplitList(std::string_view scheme, std::string_view list) {
  std::vector<std::string> out;
  while (!list.empty()) {
    const auto comma = list.find(',');
    const auto item = list.substr(0, comma);
    if (!item.empty()) out.push_back(std::string(scheme) + std::string(item));
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return out;
}

// "name:port", "[v6]:port", "name" (port 443, as gRPC) -> host, port; false when malformed.
bool SplitHostPort(std::string_view s, std::string* host, std::string* port) {
  if (s.empty()) return false;
  if (s.front() == '[') {
    const auto close = s.find(']');
    if (close == std::string_view::npos) return false;
    *host = std::string(s.substr(1, close - 1));
    const auto rest = s.substr(close + 1);
    if (rest.empty()) {
      *port = "443";
    } else if (rest.front() == ':' && rest.size() > 1) {
      *port = std::string(rest.substr(1));
    } else {
      return false;
    }
    return !host->empty();
  }
  const auto colon = s.rfind(':');
  if (colon != std::string_view::npos && s.find(':') != colon) return false;  // bare IPv6
  if (colon == std::string_view::npos) {
    *host = std::string(s);
    *port = "443";
  } else {
    *host = std::string(s.substr(0, colon));
    *port = std::string(s.substr(colon + 1));
  }
  return !host->empty() && !port->empty() &&
         std::all_of(port->begin(), port->end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

WorkerTarget ParseWorkerTarget(const std::string& target) {
  WorkerTarget t;
  const std::string_view s = target;
  auto opaque = [&] {
    t.kind = WorkerTarget::Kind::kOpaque;
    t.endpoints = {target};
    return t;
  };
  if (s.starts_with("ipv4:") || s.starts_with("ipv6:")) {
    t.kind = WorkerTarget::Kind::kStatic;
    t.endpoints = SplitList(s.substr(0, 5), s.substr(5));
    if (t.endpoints.empty()) return opaque();
    return t;
  }
  if (s.starts_with("unix:") || s.starts_with("unix-abstract:")) {
    t.kind = WorkerTarget::Kind::kStatic;
    t.endpoints = {target};
    return t;
  }
  std::string_view name;
  if (s.starts_with("dns:///")) {
    name = s.substr(7);
  } else if (s.starts_with("dns:")) {
    return opaque();  // dns://server/name or dns:name: leave it to gRPC
  } else if (s.find("://") != std::string_view::npos || s.find('/') != std::string_view::npos) {
    return opaque();  // another scheme (xds:///...), or something we do not understand
  } else {
    name = s;
  }
  if (!SplitHostPort(name, &t.host, &t.port)) return opaque();
  t.kind = WorkerTarget::Kind::kDns;
  return t;
}

std::vector<std::string> ResolveHostPort(const std::string& host, const std::string& port,
                                         std::string* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &result);
  if (rc != 0) {
    if (error) *error = host + ": " + gai_strerror(rc);
    return {};
  }
  std::vector<std::string> out;
  for (addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    if (ai->ai_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(ai->ai_addr);
      inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
      out.push_back("ipv4:" + std::string(text) + ":" + std::to_string(ntohs(in->sin_port)));
    } else if (ai->ai_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(ai->ai_addr);
      inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
      out.push_back("ipv6:[" + std::string(text) + "]:" + std::to_string(ntohs(in6->sin6_port)));
    }
  }
  freeaddrinfo(result);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  if (out.empty() && error) *error = host + ": no addresses";
  return out;
}

}  // namespace smtpbridge::dispatcher
