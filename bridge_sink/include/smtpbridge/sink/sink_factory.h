// Building the real sink: its options (from YAML or code) and the factory that wires the
// gRPC-backed dispatcher client, the budget timer, the breaker, the caches and the local rules.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "smtpbridge/sink/sink.h"
#include "smtpbridge/tls/tls_options.h"
#include "smtpbridge/v1/event.pb.h"
#include "smtpbridge/v1/verdict.pb.h"

namespace prometheus {
class Registry;
}

namespace smtpbridge::sink {

// Circuit breaker: `failure_threshold` consecutive transport failures (unreachable, error
// status) open it; budget timeouts open it only through a rate: failures and timeouts together
// at least `failure_rate_percent` of at least `failure_rate_min_calls` calls in the last
// `failure_rate_window`, counted from the dispatcher's first answer (so a brief overload or the
// cold start, when some calls miss their budget, is not turned into an `open_for` outage). After
// `open_for` one probe goes through (half-open); its success closes the breaker, its failure
// (timeout included) opens it again.
struct BreakerOptions {
  bool enabled = true;
  uint32_t failure_threshold = 5;
  std::chrono::milliseconds open_for{2000};
  uint32_t failure_rate_percent = 50;
  uint32_t failure_rate_min_calls = 50;
  std::chrono::milliseconds failure_rate_window{10000};
};

// Fresh verdict cache: when the dispatcher's verdict carries a cache_ttl, equivalent events are
// answered from memory (source kCache) until it expires, without a round trip.
struct FreshCacheOptions {
  bool enabled = true;
  std::size_t max_entries = 10000;
};

// Stale-while-down cache of the dispatcher's recent verdicts, consulted only on fallback.
struct StaleCacheOptions {
  bool enabled = true;
  std::chrono::milliseconds ttl{std::chrono::minutes(5)};
  std::size_t max_entries = 10000;
};

// Background refresh of Dispatcher.GetInterests.
struct InterestsOptions {
  bool enabled = true;
  // Used when the dispatcher's answer carries no refresh_after.
  std::chrono::milliseconds refresh_after{std::chrono::seconds(30)};
  // After a failed GetInterests.
  std::chrono::milliseconds retry_after{std::chrono::seconds(2)};
  // Deadline of one GetInterests call.
  std::chrono::milliseconds timeout{std::chrono::seconds(2)};
  // BodyLimit() while the interests are unknown (dispatcher never reached).
  uint32_t unknown_body_limit = 256 * 1024;
};

// TLS (and mutual TLS) to the dispatcher: the settings every C++ part shares
// (smtpbridge/tls/tls_options.h): enabled, ca_file (empty: the system's roots), cert_file +
// key_file (a client certificate, both or neither), server_name, refresh_interval (files re-read
// for rotation). Off: plaintext, for loopback and meshes that encrypt.
using TlsOptions = tls::TlsOptions;

// How evaluations travel to the dispatcher.
enum class Transport {
  kAuto,    // over one EvaluateStream once GetInterests says the dispatcher serves it, else unary
  kStream,  // over EvaluateStream from the first event (the dispatcher is known to serve it)
  kUnary,   // one Evaluate call per event
};

struct SinkOptions {
  // gRPC target of the dispatcher (`ipv4:…`, `dns:///…`, `unix:…`). Hosts' --dispatcher flag
  // overrides the YAML value.
  std::string dispatcher_target = "ipv4:127.0.0.1:50050";
  Transport transport = Transport::kAuto;
  // Filled into SessionContext.host_name when the host left it empty.
  std::string host_name;
  TlsOptions tls;

  // Fallback verdict when nothing better is known: `default_verdict` for every event type,
  // unless `default_verdicts` has an entry for it. An empty Verdict means continue.
  v1::Verdict default_verdict;
  std::map<v1::EventType, v1::Verdict> default_verdicts;

  BreakerOptions breaker;
  FreshCacheOptions fresh_cache;
  StaleCacheOptions stale_cache;
  InterestsOptions interests;

  // Optional local rules file (see docs/sink.md); empty: none. Loaded by MakeSink.
  std::string local_rules_file;

  // The gRPC deadline is the budget rounded up to the next millisecond plus this slack, so the
  // sink's own timer (exact to the microsecond) always decides first.
  std::chrono::microseconds grpc_deadline_slack{2000};
  // When true, a call whose budget ran out is not cancelled but left to finish within
  // `late_answer_window`, so a slow dispatcher's answers still refresh the stale cache.
  bool keep_late_answers = false;
  std::chrono::milliseconds late_answer_window{1000};

  // At most one warning log line per fallback reason per interval (the counters count all).
  std::chrono::milliseconds warn_interval{std::chrono::seconds(10)};

  // One JSON line per fallback answer (reason, source, budget, event/session/trace ids; the
  // sink's side of the dispatcher's decision log): a file, "-" for stdout, empty for none.
  std::string fallback_log;

  // Where the sink registers its Prometheus metrics; MakeSink creates a private registry when
  // null. Hosts pass the registry they expose on --metrics-listen.
  std::shared_ptr<prometheus::Registry> metrics_registry;
};

// Reads the `sink:` section of a YAML file. Errors name file:line and the field
// (e.g. "sink.yaml:7: sink.breaker.failure_threshold: expected an integer 1..1000000");
// throws std::runtime_error.
SinkOptions LoadSinkOptions(const std::string& yaml_path);

// The real gRPC-backed sink. Throws std::runtime_error when the options are invalid (e.g. a bad
// local rules file). The dispatcher need not be reachable: the fallback answers until it is.
std::unique_ptr<Sink> MakeSink(const SinkOptions& options);

}  // namespace smtpbridge::sink
