// The whole dispatcher wired together: bindings store and watcher, worker channels, clock,
// verdict cache, fan-out, stats/metrics/logs and the gRPC server (Dispatcher, Admin, health, all
// on the completion-queue threads; reflection unless turned off). main() and the in-process tests
// both use it.
#pragma once

#include <grpcpp/server.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "dispatch/binding_stats.h"
#include "dispatch/fanout.h"
#include "dispatch/thread_clock.h"
#include "dispatch/verdict_cache.h"
#include "server/admin_service.h"
#include "server/bindings_store.h"
#include "server/decision_log.h"
#include "server/dispatcher_service.h"
#include "server/health_service.h"
#include "server/metrics.h"
#include "server/recorder.h"
#include "smtpbridge/cq/cq_pool.h"
#include "smtpbridge/tls/tls_options.h"
#include "workers/channel_pool.h"
#include "workers/grpc_sink_client.h"
#include "workers/stream_metrics.h"
#include "workers/worker_credentials.h"

namespace smtpbridge::dispatcher {

struct AppOptions {
  std::string listen = "127.0.0.1:50050";
  std::string bindings_path;
  std::string metrics_listen;  // empty: no exposer
  // Empty: admin calls unauthenticated. Else Admin calls and Evaluate with explain need it,
  // over TLS or from loopback (server/admin_auth.h).
  std::string admin_token;
  std::chrono::milliseconds watch_interval{1000};  // 0: do not watch the file
  std::chrono::milliseconds drain_timeout{5000};
  // On shutdown, after health said NOT_SERVING: how long open EvaluateStreams may take to move
  // to other replicas by themselves (a sink replaces its stream every second, and its channel's
  // health checking keeps the replacement off this replica) before they are ended. Bounded by
  // drain_timeout; 0: end them at once.
  std::chrono::milliseconds stream_handoff{1500};
  // GRPC_ARG_MAX_CONNECTION_AGE_MS (+ _GRACE_MS): connections older than this are closed
  // (GOAWAY, then up to `grace` for calls and streams in flight), so clients re-resolve their
  // dns:/// name and find new replicas. 0: no limit. (docs/scaling.md)
  std::chrono::milliseconds max_connection_age{0};
  std::chrono::milliseconds max_connection_age_grace{0};
  size_t cache_entries = 10000;
  size_t threads = 0;      // completion-queue threads serving every method; 0: EffectiveThreads
  bool reflection = true;  // gRPC server reflection (measured: no CPU per event while unused)
  // In-flight and per-pool limits (docs/overload.md): 10000 events, 1000 calls per pool.
  AdmissionOptions admission{.max_in_flight = 10000, .pool_limit = 1000};
  // Worker pools: outlier ejection, re-resolution, retry budget (docs/overload.md).
  PoolOptions pools;
  // Server TLS: cert, key and the client CA (mutual TLS, a client certificate is required).
  // Off by default (plaintext, for loopback); docs/security.md.
  tls::TlsOptions tls;
  // TLS to the workers for bindings without a `tls` block of their own (off: plaintext).
  tls::TlsOptions worker_tls;
  // JSON decision log lines (off when path is empty); server/decision_log.h.
  DecisionLogOptions decision_log;
};

// `threads`, or when 0 half the cores (at least 1): one thread per event and its worker calls
// costs least (no hand-off between pollers); more only on bigger boxes (docs/bindings.md).
size_t EffectiveThreads(size_t threads);

class DispatcherApp {
 public:
  // Loads the bindings. nullptr with `errors` ("file:line: field: message") when they do not
  // validate or the metrics exposer cannot bind.
  static std::unique_ptr<DispatcherApp> Create(AppOptions options,
                                               std::vector<std::string>* errors);
  ~DispatcherApp();

  // Starts the gRPC server; false with `error` when it cannot listen.
  bool Start(std::string* error);
  // "host:port" actually bound (the real port when 0 was asked for).
  const std::string& address() const { return address_; }
  std::string metrics_address() const { return metrics_ ? metrics_->address() : std::string{}; }

  ReloadOutcome Reload() { return store_->Reload(); }
  // Stops accepting, lets in-flight events finish (bounded by drain_timeout), stops threads.
  // Open EvaluateStreams end with UNAVAILABLE once their answers are written.
  // Returns false when something was still running at the deadline.
  bool Shutdown();

  BindingsStore& store() { return *store_; }

 private:
  explicit DispatcherApp(AppOptions options);

  AppOptions options_;
  std::unique_ptr<Metrics> metrics_;
  BindingStatsRegistry stats_;
  std::unique_ptr<DecisionLog> decision_log_;  // before recorder_: it writes to it
  std::unique_ptr<Recorder> recorder_;
  VerdictCache cache_;
  ThreadClock clock_;
  WorkerCredentials worker_credentials_{options_.worker_tls};
  ChannelPool channels_{&clock_, options_.pools};
  cq::CqPool cqs_;
  GrpcSinkClient client_{&channels_, &cqs_};
  std::unique_ptr<StreamMetrics> stream_metrics_;
  std::unique_ptr<Admission> admission_;
  std::unique_ptr<FanOut> fanout_;
  std::unique_ptr<BindingsStore> store_;
  std::unique_ptr<DispatcherService> dispatcher_service_;
  std::unique_ptr<AdminService> admin_service_;
  std::unique_ptr<AdminAuth> admin_auth_;
  std::unique_ptr<HealthService> health_service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  bool shut_down_ = false;
};

// True for 127.x, ::1, localhost and unix: listen addresses (plaintext is fine there).
bool IsLoopback(const std::string& listen);

// "127.0.0.1:0" + 4242 -> "127.0.0.1:4242"; "[::1]:0" -> "[::1]:4242".
std::string ReplacePort(const std::string& listen, int port);

}  // namespace smtpbridge::dispatcher
