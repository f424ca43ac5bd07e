#include "smtpbridge/worker/worker.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "events_stream.h"
#include "health_service.h"
#include "smtpbridge/cq/cq_gate.h"
#include "smtpbridge/grpc/server_options.h"
#include "smtpbridge/v1/sink.grpc.pb.h"

namespace smtpbridge::worker {
namespace {

// On shutdown, how long NOT_SERVING may take to reach the health watchers.
constexpr auto kTellWatchersFor = std::chrono::milliseconds(500);

std::atomic<int> g_signal{0};
sem_t g_signal_sem;  // posted by the handler: sem_post is async-signal-safe, a condvar is not
std::once_flag g_signal_sem_once;

extern "C" void RecordSignal(int signo) {
  g_signal.store(signo);
  ::sem_post(&g_signal_sem);
}

// For the lifetime of Serve(): SIGTERM/SIGINT handlers (the old ones restored afterwards) and a
// thread that sleeps on the handler's semaphore and calls `on_signal` once a signal came, so the
// serving thread waits on its condition variable with no polling.
class SignalGuard {
 public:
  explicit SignalGuard(std::function<void(int)> on_signal) {
    std::call_once(g_signal_sem_once, [] { ::sem_init(&g_signal_sem, 0, 0); });
    while (::sem_trywait(&g_signal_sem) == 0) {
    }
    g_signal.store(0);
    struct sigaction sa {};
    sa.sa_handler = RecordSignal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGTERM, &sa, &old_term_);
    ::sigaction(SIGINT, &sa, &old_int_);
    watcher_ = std::thread([this, on_signal = std::move(on_signal)] {
      pthread_setname_np(pthread_self(), "worker-signals");
      while (::sem_wait(&g_signal_sem) != 0 && errno == EINTR) {
      }
      if (!done_.load() && g_signal.load() != 0) on_signal(g_signal.load());
    });
  }
  ~SignalGuard() {
    ::sigaction(SIGTERM, &old_term_, nullptr);
    ::sigaction(SIGINT, &old_int_, nullptr);
    done_.store(true);
    ::sem_post(&g_signal_sem);  // wakes the watcher if no signal did
    watcher_.join();
  }

 private:
  struct sigaction old_term_ {};
  struct sigaction old_int_ {};
  std::atomic<bool> done_{false};
  std::thread watcher_;
};

EventContext::Clock::time_point CallDeadline(const grpc::ServerContext& ctx,
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

std::string HostOf(const std::string& address) {
  const auto colon = address.rfind(':');
  return colon == std::string::npos ? address : address.substr(0, colon);
}

}  // namespace

// PolicySink and health on completion queues, one thread per queue (WorkerOptions::threads).
// The callback API would start gRPC's two "nexting_thread"s, which share the poller with ours
// and get woken for every call (bench/README.md, latency).
class Worker::Service {
 public:
  Service(const Router& router, const WorkerOptions& options)
      : router_(router), options_(options), health_(&gate_) {
    streams_.service = &sink_;
    streams_.router = &router_;
    streams_.gate = &gate_;
  }
  ~Service() { Stop(); }

  // Before BuildAndStart().
  void AddTo(grpc::ServerBuilder& builder) {
    builder.RegisterService(&sink_);
    builder.RegisterService(&health_);
    for (int i = 0; i < std::max(1, options_.threads); ++i)
      cqs_.push_back(builder.AddCompletionQueue());
    for (auto& cq : cqs_) streams_.cqs.push_back(cq.get());
    gate_.Open();
  }
  // After BuildAndStart(): posts the first requests on every queue and starts its thread.
  void Start();
  // After Server::Shutdown(): closes the queues, lets their threads drain every remaining tag and
  // joins them. Idempotent.
  void Stop();

  // Draining: health watchers (the dispatchers' channels) hear NOT_SERVING and stop picking this
  // replica; then their Watch streams end, so Server::Shutdown does not wait for them, and so do
  // the OnEvents streams once they answered what they read.
  void StopServing(std::chrono::milliseconds tell_for) {
    health_.SetServing(false);
    health_.WaitWatchersTold(tell_for);
    health_.EndWatches();
    // Their OnEvents streams end (OK) once what they sent is answered.
    streams_.Drain();
  }

 private:
  class EventCall;

  void Run(grpc::ServerCompletionQueue* cq) {
    pthread_setname_np(pthread_self(), "worker-cq");
    void* tag = nullptr;
    bool ok = false;
    while (cq->Next(&tag, &ok)) static_cast<cq::CqTag*>(tag)->Proceed(ok);
  }

  const Router& router_;
  const WorkerOptions& options_;
  cq::CqGate gate_;
  v1::PolicySink::AsyncService sink_;
  internal::HealthService health_;
  internal::EventsStreams streams_;
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> cqs_;
  std::vector<std::thread> threads_;
  bool stopped_ = false;
};

// One OnEvent call. Completes through its Responder exactly once: the handler's answer (from any
// thread), its failure, or CANCELLED when the client gives up, the deadline passes or the server
// shuts down first (AsyncNotifyWhenDone). Freed once the answer's Finish and the done
// notification are both back (or the answer could not be sent any more).
class Worker::Service::EventCall final : public cq::CqTag {
 public:
  static void Post(Service* service, grpc::ServerCompletionQueue* cq) {
    cq::CqGate::Use use(&service->gate_);
    if (!use) return;
    auto* call = new EventCall(service, cq);
    call->context_.AsyncNotifyWhenDone(&call->done_);
    service->sink_.RequestOnEvent(&call->context_, &call->request_, &call->writer_, cq, cq, call);
  }

  // The call arrived (ok), or the server is shutting down (!ok: no call, no done notification).
  void Proceed(bool ok) override {
    if (!ok) {
      delete this;
      return;
    }
    Post(service_, cq_);  // the next call
    event_.emplace(request_, CallDeadline(context_, request_));
    if (const auto it = context_.client_metadata().find("traceparent");
        it != context_.client_metadata().end()) {
      event_->set_traceparent(std::string(it->second.data(), it->second.size()));
    }
    responder_.emplace([this](grpc::Status status, v1::Verdict verdict) {
      Answer(std::move(status), std::move(verdict));
    });
    service_->router_.Dispatch(*event_, *responder_);
  }

 private:
  // A tag that forwards to one of the call's steps.
  class Step final : public cq::CqTag {
   public:
    Step(EventCall* call, void (EventCall::*step)(bool)) : call_(call), step_(step) {}
    void Proceed(bool ok) override { (call_->*step_)(ok); }

   private:
    EventCall* call_;
    void (EventCall::*step_)(bool);
  };

  EventCall(Service* service, grpc::ServerCompletionQueue* cq)
      : service_(service),
        cq_(cq),
        writer_(&context_),
        done_(this, &EventCall::Done),
        finished_(this, &EventCall::Finished) {}

  // The Responder's completion: runs once, on whichever thread answered.
  void Answer(grpc::Status status, v1::Verdict verdict) {
    {
      cq::CqGate::Use use(&service_->gate_);
      if (use) {
        if (status.ok()) {
          response_ = std::move(verdict);
          writer_.Finish(response_, status, &finished_);
        } else {
          writer_.FinishWithError(status, &finished_);
        }
        return;  // Finished() releases the answer's reference
      }
    }
    Release();
  }

  // The call is over: answered, cancelled by the client, past its deadline, or shut down.
  void Done(bool) {
    responder_->Fail(grpc::Status(grpc::StatusCode::CANCELLED, "call cancelled"));
    Release();
  }

  void Finished(bool) { Release(); }

  void Release() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  Service* service_;
  grpc::ServerCompletionQueue* cq_;
  grpc::ServerContext context_;
  v1::SinkRequest request_;
  v1::Verdict response_;
  grpc::ServerAsyncResponseWriter<v1::Verdict> writer_;
  std::optional<EventContext> event_;
  std::optional<Responder> responder_;
  Step done_;
  Step finished_;
  // Once the call arrived: one for the done notification, one for the answer.
  std::atomic<int> refs_{2};
};

void Worker::Service::Start() {
  for (auto& cq : cqs_) {
    EventCall::Post(this, cq.get());
    internal::EventsStream::Post(&streams_, cq.get());
    health_.Arm(cq.get());
  }
  for (auto& cq : cqs_) threads_.emplace_back([this, q = cq.get()] { Run(q); });
}

void Worker::Service::Stop() {
  if (stopped_) return;
  stopped_ = true;
  gate_.Close();
  for (auto& cq : cqs_) cq->Shutdown();
  if (threads_.empty()) {
    // Never started (the server failed to start): drain here.
    for (auto& cq : cqs_) {
      void* tag = nullptr;
      bool ok = false;
      while (cq->Next(&tag, &ok)) static_cast<cq::CqTag*>(tag)->Proceed(false);
    }
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
}

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
  std::unique_lock lock(mu_);
  if (server_) throw std::logic_error("Worker::Start: already started");
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  service_ = std::make_unique<Service>(router_, options_);
  int port = 0;
  std::string tls_error;
  const auto credentials = tls::MakeServerCredentials(options_.tls, &tls_error);
  if (!credentials) {
    service_.reset();
    throw std::runtime_error("worker " + options_.name + ": " + tls_error);
  }
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, credentials, &port);
  builder.SetMaxReceiveMessageSize(options_.max_request_bytes);
  grpc_server::ApplyServerArgs(builder,
                               {options_.max_connection_age, options_.max_connection_age_grace});
  service_->AddTo(builder);
  server_ = builder.BuildAndStart();
  if (!server_ || port == 0) {
    if (server_) server_->Shutdown();
    server_.reset();
    service_.reset();
    throw std::runtime_error("worker " + options_.name + ": cannot listen on " + address);
  }
  service_->Start();
  const std::string bound = HostOf(address) + ":" + std::to_string(port);
  spdlog::info("worker {} listening on {}{}", options_.name, bound,
               options_.tls.enabled ? " (mutual TLS)" : "");
  // Outside the lock: a ready callback may call Shutdown() (or anything else on this worker).
  lock.unlock();
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
  service_->StopServing(std::min(options_.drain_timeout, kTellWatchersFor));
  server_->Shutdown(std::chrono::system_clock::now() + options_.drain_timeout);
  server_->Wait();
  service_->Stop();
  spdlog::info("worker {} stopped", options_.name);
}

void Worker::Serve(const std::string& address) {
  std::unique_ptr<SignalGuard> signals;
  if (options_.handle_signals) {
    signals = std::make_unique<SignalGuard>([this](int signo) {
      spdlog::info("worker {} got signal {}", options_.name, signo);
      std::lock_guard lock(mu_);
      stop_requested_ = true;
      stop_cv_.notify_all();
    });
  }
  Start(address);
  {
    std::unique_lock lock(mu_);
    stop_cv_.wait(lock, [this] { return stop_requested_; });
  }
  Shutdown();
}

}  // namespace smtpbridge::worker
