// A worker target split into the addresses behind it, so the pool can call, count and eject
// each replica itself (gRPC's round_robin channel hides which backend a call went to).
//
//   ipv4:1.2.3.4:50051,1.2.3.5:50051   static list: one endpoint per address
//   ipv6:[::1]:50051,[::2]:50051       static list
//   unix:/run/worker.sock              one endpoint (unix-abstract: too)
//   dns:///policy.svc:50051            resolved with getaddrinfo, re-resolved periodically
//   policy.svc:50051                   the same (gRPC's default scheme is dns)
// Anything else (another scheme, a dns:// target naming its own DNS server) stays one opaque
// endpoint: gRPC resolves it, and the pool sees the whole target as one replica.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace smtpbridge::dispatcher {

struct WorkerTarget {
  enum class Kind { kStatic, kDns, kOpaque };
  Kind kind = Kind::kOpaque;
  // kStatic and kOpaque: single-address gRPC targets ("ipv4:1.2.3.4:50051", "unix:/x").
  std::vector<std::string> endpoints;
  // kDns: what getaddrinfo resolves.
  std::string host;
  std::string port;
};

WorkerTarget ParseWorkerTarget(const std::string& target);

// Host and port to single-address gRPC targets ("ipv4:10.0.0.1:50051", "ipv6:[fd00::1]:50051"),
// sorted and without duplicates; empty with `error` when the name does not resolve. Blocking.
using Resolver = std::function<std::vector<std::string>(
    const std::string& host, const std::string& port, std::string* error)>;
std::vector<std::string> ResolveHostPort(const std::string& host, const std::string& port,
                                         std::string* error);

}  // namespace smtpbridge::dispatcher
