#include "smtpbridge/worker/worker.h"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <stdexcept>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <spdlog/spdlog.h>

#include "smtpbridge/v1/sink.grpc.pb.h"

namespace smtpbridge::worker {
namespace {

constexpr auto kSignalPoll = std::chrono::milliseconds(50);

std::atomic<int> g_signal{0};

extern "C" void RecordSignal(int signo) { g_signal.store(signo); }

// Installs SIGTERM/SIGINT handlers for the lifetime of Serve() and restores the old ones.
class SignalGuard {
 public:
  SignalGuard() {
    g_signal.store(0);
    struct sigaction sa {};
    sa.sa_handler = RecordSignal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGTERM, &sa, &old_term_);
    ::sigaction(SIGINT, &sa, &old_int_);
  }
  ~SignalGuard() {
    ::sigaction(SIGTERM, &old_term_, nullptr);
    ::sigaction(SIGINT, &old_int_, nullptr);
  }

 private:
  struct sigaction old_term_ {};
  struct sigaction old_int_ {};
};

EventContext::Clock::time_point CallDeadline(const grpc::CallbackServerContext& ctx,
                                             const v1::SinkRequest& request) {
  using Clock = EventContext::Clock;
  auto deadline = Clock::time_point::max();
  const auto grpc_deadline = ctx.deadline();
  const auto sys_now = std::chrono::system_clock::now();
  // An absent gRPC deadline comes back as a time centuries away.
  if (grpc_deadline < sys_now + std::chrono::hours(24 * 365)) {
    deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(grpc_deadline - sys_now);
  }
  if (request.has_time_left()) {
    const auto left = std::chrono::seconds(request.time_left().seconds()) +
                      std::chrono::nanoseconds(request.time_left().nanos());
    deadline = std::min(deadline, Clock::now() + std::chrono::duration_cast<Clock::duration>(left));
  }
  return deadline;
}

// One OnEvent call. Completes through its Responder exactly once: the handler's answer, its
// failure, or CANCELLED when the client gives up (or the server shuts down) first.
class EventReactor final : public grpc::ServerUnaryReactor {
 public:
  EventReactor(grpc::CallbackServerContext* call, const v1::SinkRequest* request,
               v1::Verdict* response, const Router& router)
      : ctx_(*request, CallDeadline(*call, *request)),
        responder_([this, response](grpc::Status status, v1::Verdict verdict) {
          if (status.ok()) *response = std::move(verdict);
          Finish(status);
        }) {
    router.Dispatch(ctx_, responder_);
  }

  void OnCancel() override {
    responder_.Fail(grpc::Status(grpc::StatusCode::CANCELLED, "call cancelled"));
  }
  void OnDone() override { delete this; }

 private:
  EventContext ctx_;
  Responder responder_;
};

std::string HostOf(const std::string& address) {
  const auto colon = address.rfind(':');
  return colon == std::string::npos ? address : address.substr(0, colon);
}

}  // namespace

class Worker::Service final : public v1::PolicySink::CallbackService {
 public:
  explicit Service(const Router& router) : router_(router) {}

  grpc::ServerUnaryReactor* OnEvent(grpc::CallbackServerContext* call,
                                    const v1::SinkRequest* request,
                                    v1::Verdict* response) override {
    return new EventReactor(call, request, response, router_);
  }

 private:
  const Router& router_;
};

Worker::Worker(WorkerOptions options) : options_(std::move(options)) {}

Worker::~Worker() { Shutdown(); }

Worker& Worker::On(v1::EventType type, Handler handler) { return On(type, "", std::move(handler)); }

Worker& Worker::On(v1::EventType type, std::string_view keyword, Handler handler) {
  router_.Add(type, keyword, std::move(handler));
  return *this;
}

Worker& Worker::OnAsync(v1::EventType type, AsyncHandler handler) {
  return OnAsync(type, "", std::move(handler));
}

Worker& Worker::OnAsync(v1::EventType type, std::string_view keyword, AsyncHandler handler) {
  router_.AddAsync(type, keyword, std::move(handler));
  return *this;
}

Worker& Worker::OnOther(Handler handler) {
  router_.SetFallback([handler = std::move(handler)](const EventContext& ctx, Responder r) {
    r.Finish(handler(ctx));
  });
  return *this;
}

Worker& Worker::OnOtherAsync(AsyncHandler handler) {
  router_.SetFallback(std::move(handler));
  return *this;
}

Worker& Worker::OnReady(ReadyCallback callback) {
  on_ready_ = std::move(callback);
  return *this;
}

int Worker::Start(const std::string& address) {
  std::lock_guard lock(mu_);
  if (server_) throw std::logic_error("Worker::Start: already started");
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  service_ = std::make_unique<Service>(router_);
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(options_.max_request_bytes);
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  if (!server_ || port == 0) {
    server_.reset();
    throw std::runtime_error("worker " + options_.name + ": cannot listen on " + address);
  }
  const std::string bound = HostOf(address) + ":" + std::to_string(port);
  spdlog::info("worker {} listening on {}", options_.name, bound);
  if (on_ready_) on_ready_(bound, port);
  return port;
}

void Worker::Shutdown() {
  std::unique_lock lock(mu_);
  stop_requested_ = true;
  stop_cv_.notify_all();
  if (!server_ || stopped_) return;
  stopped_ = true;
  lock.unlock();
  spdlog::info("worker {} draining (up to {} ms)", options_.name, options_.drain_timeout.count());
  server_->Shutdown(std::chrono::system_clock::now() + options_.drain_timeout);
  server_->Wait();
  spdlog::info("worker {} stopped", options_.name);
}

void Worker::Serve(const std::string& address) {
  std::unique_ptr<SignalGuard> signals;
  if (options_.handle_signals) signals = std::make_unique<SignalGuard>();
  Start(address);
  {
    std::unique_lock lock(mu_);
    while (!stop_requested_) {
      if (options_.handle_signals && g_signal.load() != 0) {
        spdlog::info("worker {} got signal {}", options_.name, g_signal.load());
        break;
      }
      stop_cv_.wait_for(lock, kSignalPoll);
    }
  }
  Shutdown();
}

}  // namespace smtpbridge::worker
