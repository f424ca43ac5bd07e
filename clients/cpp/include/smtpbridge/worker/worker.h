// A policy worker: register handlers per event type (and optionally per command keyword), then
// Serve(). Implements smtpbridge.v1.PolicySink (unary OnEvent, and the batched OnEvents stream
// the dispatcher prefers: src/events_stream.h) on gRPC completion queues (one thread each, see
// WorkerOptions::threads), with grpc.health.v1.Health/Check and reflection.
//
//   smtpbridge::worker::Worker worker;
//   worker.On(smtpbridge::v1::EVENT_TYPE_INBOUND_COMMAND, "RCPT", [](const auto& ctx) {
//     if (ctx.recipient() == "blocked@example.com")
//       return Verdict::Reject(550, "5.7.1", "Recipient blocked");
//     return Verdict::Continue();
//   });
//   worker.Serve("127.0.0.1:50051");  // until SIGTERM/SIGINT
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "smtpbridge/tls/tls_options.h"
#include "smtpbridge/v1/event.pb.h"
#include "smtpbridge/worker/event_context.h"
#include "smtpbridge/worker/responder.h"
#include "smtpbridge/worker/router.h"
#include "smtpbridge/worker/verdict.h"

namespace grpc {
class Server;
}

namespace smtpbridge::worker {

struct WorkerOptions {
  // Appears in logs.
  std::string name = "worker";
  // On shutdown, calls still running after this are cancelled.
  std::chrono::milliseconds drain_timeout{10000};  // 10 s, as every SDK
  // Serve() returns on SIGTERM / SIGINT.
  bool handle_signals = true;
  // Largest SinkRequest accepted (an `_EOD` event carries headers and up to body_limit octets).
  int max_request_bytes = 32 * 1024 * 1024;
  // Threads serving calls, each driving its own completion queue; handlers run on them (a sync
  // handler holds its thread until it returns; async ones do not). One is cheapest per event on a
  // small box: more threads hand calls to each other through gRPC's shared poller. Values below 1
  // mean 1.
  int threads = 1;
  // Connections older than this are closed (GOAWAY, then up to the grace for calls in flight), so
  // dispatchers re-resolve their dns:/// name for this pool and find new replicas; zero: no limit.
  std::chrono::milliseconds max_connection_age{0};
  std::chrono::milliseconds max_connection_age_grace{0};
  // Serve mutual TLS: tls.enabled with tls.cert_file, tls.key_file and tls.ca_file (the CA that
  // signs the dispatcher's client certificate; a client without one is refused at the handshake).
  // The files are re-read every tls.refresh_interval, so a rotated certificate needs no restart.
  tls::TlsOptions tls;
};

class Worker {
 public:
  // Called once listening, with "host:port" as bound (the real port when asked for port 0).
  using ReadyCallback = std::function<void(const std::string& host_port, int port)>;

  explicit Worker(WorkerOptions options = {});
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Registration happens before Start()/Serve(). Unhandled events continue.
  Worker& On(v1::EventType type, Handler handler);
  Worker& On(v1::EventType type, std::string_view keyword, Handler handler);
  Worker& OnAsync(v1::EventType type, AsyncHandler handler);
  Worker& OnAsync(v1::EventType type, std::string_view keyword, AsyncHandler handler);
  // Every event no other handler takes.
  Worker& OnOther(Handler handler);
  Worker& OnOtherAsync(AsyncHandler handler);
  Worker& OnReady(ReadyCallback callback);

  // Listens on `address` ("127.0.0.1:0" for any free port), calls the ready callback, serves until
  // Shutdown() or (with handle_signals) SIGTERM/SIGINT, then drains. Throws std::runtime_error
  // when it cannot listen.
  void Serve(const std::string& address);

  // Non-blocking variant for embedding and tests: returns the bound port.
  int Start(const std::string& address);
  // Stops accepting calls, lets running ones finish for up to drain_timeout, cancels the rest.
  // Idempotent and thread-safe; the first caller returns once the server has stopped.
  void Shutdown();

  const Router& router() const { return router_; }
  const WorkerOptions& options() const { return options_; }

 private:
  class Service;

  WorkerOptions options_;
  Router router_;
  ReadyCallback on_ready_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stop_requested_ = false;
  bool stopped_ = false;
};

}  // namespace smtpbridge::worker
