#include "core/grpc_dispatcher_client.h"

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/async_unary_call.h>
#include <grpcpp/support/channel_arguments.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <pthread.h>
#include <spdlog/spdlog.h>

#include <stdexcept>
#include <utility>

#include "smtpbridge/grpc/client_channel.h"
#include "smtpbridge/tls/tls_options.h"
#include "smtpbridge/trace/traceparent.h"

namespace smtpbridge::sink {
namespace {

// Registers a live call with its client's tracker for as long as it exists.
template <typename Tracker>
class Tracked {
 public:
  explicit Tracked(std::shared_ptr<Tracker> tracker) : tracker_(std::move(tracker)) {
    std::lock_guard lock(tracker_->mu);
    ++tracker_->live;
  }
  ~Tracked() {
    std::lock_guard lock(tracker_->mu);
    if (--tracker_->live == 0) tracker_->idle.notify_all();
  }
  Tracked(const Tracked&) = delete;
  Tracked& operator=(const Tracked&) = delete;

 private:
  std::shared_ptr<Tracker> tracker_;
};

// One unary call on the client's completion queue: owns its context and response until the
// queue reports it finished. The request is the caller's (Evaluate: valid until the callback,
// per the DispatcherClient contract) or a copy the call owns (GetInterests: small, and its
// caller passes a temporary).
template <typename Tracker, typename Request, typename Response>
class UnaryCall final : public DispatcherClient::Call, public GrpcDispatcherClient::Completion {
 public:
  using Done = std::function<void(const grpc::Status&, Response)>;
  UnaryCall(std::shared_ptr<Tracker> tracker, const Request& request, bool copy_request,
            std::chrono::system_clock::time_point deadline, Done done)
      : tracked_(std::move(tracker)), done_(std::move(done)) {
    if (copy_request) {
      owned_request_ = request;
      request_ = &owned_request_;
    } else {
      request_ = &request;
    }
    context_.set_deadline(deadline);
  }
  void Cancel() override { context_.TryCancel(); }

  // `self` keeps the call alive until the queue hands it back.
  template <typename Prepare>
  void Start(std::shared_ptr<UnaryCall> self, Prepare&& prepare) {
    self_ = std::move(self);
    reader_ = prepare(&context_, *request_);
    reader_->StartCall();
    reader_->Finish(&response_, &status_, static_cast<GrpcDispatcherClient::Completion*>(this));
  }

  // On the queue's thread. Moves `done_` out first: it may own (through the caller's state) a
  // reference back to this call, and that cycle must end when the call does.
  void Complete(bool /*ok: always true for Finish*/) override {
    auto self = std::move(self_);
    Done done = std::move(done_);
    done_ = nullptr;
    done(status_, std::move(response_));
  }

 private:
  Tracked<Tracker> tracked_;  // first member: released after the context is gone
  grpc::ClientContext context_;
  Request owned_request_;
  const Request* request_ = nullptr;
  Response response_;
  grpc::Status status_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<Response>> reader_;
  Done done_;
  std::shared_ptr<UnaryCall> self_;
};

std::shared_ptr<grpc::ChannelCredentials> MakeCredentials(const TlsOptions& options) {
  std::string error;
  auto credentials = tls::MakeChannelCredentials(options, &error);
  if (!credentials) throw std::runtime_error("sink tls: " + error);
  return credentials;
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target, const TlsOptions& tls) {
  // The shared client configuration (round_robin over every dispatcher the target resolves to,
  // health checking, short reconnect backoff, keepalive): smtpbridge/grpc/client_channel.h.
  grpc::ChannelArguments args =
      grpc_client::ClientChannelArgs(grpc_client::kDispatcherHealthService);
  tls::ApplyChannelArgs(tls, &args);
  return grpc::CreateCustomChannel(target, MakeCredentials(tls), args);
}

// How long one connectivity watch waits before it is renewed: also the longest a client being
// destroyed waits for a watch still on its queue (gRPC cannot cancel one).
constexpr auto kReadyWatchSlice = std::chrono::milliseconds(200);

}  // namespace

// Channel::NotifyOnStateChange on the client's queue, renewed until the channel is READY after
// having been something else, then `ready_` runs once. Armed only while someone waits.
class GrpcDispatcherClient::ReadyWatch final : public GrpcDispatcherClient::Completion {
 public:
  explicit ReadyWatch(GrpcDispatcherClient* client) : client_(client) {}

  void Notify(std::function<void()> ready) {
    std::lock_guard lock(mu_);
    if (closing_) return;
    ready_ = std::move(ready);
    // From the state now: a channel READY now (dispatcher up but failing) must first leave it.
    // No callback (the breaker closed): the armed watch, if any, ends and is not renewed.
    if (ready_ && !armed_) ArmLocked(client_->channel_->GetState(/*try_to_connect=*/true));
  }

  // No watch is armed from now on; the one on the queue (if any) ends within kReadyWatchSlice.
  void Close() {
    std::lock_guard lock(mu_);
    closing_ = true;
    ready_ = nullptr;
  }

  void Complete(bool /*ok: false on the slice's deadline*/) override {
    std::function<void()> ready;
    {
      std::lock_guard lock(mu_);
      armed_ = false;
      const grpc_connectivity_state now = client_->channel_->GetState(/*try_to_connect=*/true);
      if (now == GRPC_CHANNEL_READY && last_ != GRPC_CHANNEL_READY) {
        ready = std::move(ready_);
        ready_ = nullptr;
      }
      if (ready_ && !closing_) ArmLocked(now);
    }
    if (ready) ready();
  }

 private:
  void ArmLocked(grpc_connectivity_state from) {
    last_ = from;
    armed_ = true;
    client_->channel_->NotifyOnStateChange(from,
                                           std::chrono::system_clock::now() + kReadyWatchSlice,
                                           &client_->queue_, static_cast<Completion*>(this));
  }

  GrpcDispatcherClient* client_;
  std::mutex mu_;
  std::function<void()> ready_;
  grpc_connectivity_state last_ = GRPC_CHANNEL_IDLE;
  bool armed_ = false;
  bool closing_ = false;
};

GrpcDispatcherClient::GrpcDispatcherClient(const std::string& target, const TlsOptions& tls)
    : GrpcDispatcherClient(MakeChannel(target, tls)) {}

GrpcDispatcherClient::GrpcDispatcherClient(std::shared_ptr<grpc::Channel> channel)
    : channel_(std::move(channel)),
      stub_(v1::Dispatcher::NewStub(channel_)),
      stream_(std::make_unique<EvaluateStream>(
          channel_, &queue_,
          [this](const v1::EvaluateRequest& request, std::chrono::system_clock::time_point deadline,
                 EvaluateDone done) { return UnaryEvaluate(request, deadline, std::move(done)); })),
      ready_watch_(std::make_unique<ReadyWatch>(this)),
      thread_([this] { DriveQueue(); }) {
  // Connect now, in the background (GetState(true) only starts it), so the first events do not
  // wait for name resolution and the TCP/TLS handshake and miss their budget at cold start.
  channel_->GetState(/*try_to_connect=*/true);
}

GrpcDispatcherClient::~GrpcDispatcherClient() {
  // Callers finish (or cancel) their calls first; what is left is the queue handing them back.
  ready_watch_->Close();
  stream_->Shutdown();
  {
    std::unique_lock lock(tracker_->mu);
    tracker_->idle.wait(lock, [this] { return tracker_->live == 0; });
  }
  queue_.Shutdown();
  thread_.join();
}

void GrpcDispatcherClient::DriveQueue() {
  pthread_setname_np(pthread_self(), "sink-grpc");
  void* tag = nullptr;
  bool ok = false;
  while (queue_.Next(&tag, &ok)) static_cast<Completion*>(tag)->Complete(ok);
}

void GrpcDispatcherClient::NotifyWhenReady(std::function<void()> ready) {
  ready_watch_->Notify(std::move(ready));
}

void GrpcDispatcherClient::ExportMetrics(prometheus::Registry& registry) {
  auto& family =
      prometheus::BuildHistogram()
          .Name("smtpbridge_sink_stream_batch_events")
          .Help("Events per Dispatcher.EvaluateStream message: requests sent, answers received")
          .Register(registry);
  const prometheus::Histogram::BucketBoundaries buckets{1, 2, 4, 8, 16, 32, 64};
  stream_->set_batch_histograms(&family.Add({{"direction", "sent"}}, buckets),
                                &family.Add({{"direction", "received"}}, buckets));
}

void GrpcDispatcherClient::set_transport(Transport transport) {
  use_stream_ = transport != Transport::kUnary;
  if (transport == Transport::kStream && !stream_offered_.exchange(true)) stream_->Warm();
}

std::shared_ptr<DispatcherClient::Call> GrpcDispatcherClient::Evaluate(
    const v1::EvaluateRequest& request, std::chrono::system_clock::time_point deadline,
    EvaluateDone done) {
  if (use_stream_ && stream_offered_.load(std::memory_order_acquire))
    return stream_->Evaluate(request, deadline, std::move(done));
  return UnaryEvaluate(request, deadline, std::move(done));
}

std::shared_ptr<DispatcherClient::Call> GrpcDispatcherClient::UnaryEvaluate(
    const v1::EvaluateRequest& request, std::chrono::system_clock::time_point deadline,
    EvaluateDone done) {
  using C = UnaryCall<CallTracker, v1::EvaluateRequest, v1::EvaluateResponse>;
  auto call =
      std::make_shared<C>(tracker_, request, /*copy_request=*/false, deadline, std::move(done));
  call->Start(call, [this](grpc::ClientContext* context, const v1::EvaluateRequest& r) {
    // The event's trace context as gRPC metadata (the dispatcher reads it only from there).
    if (!r.traceparent().empty()) context->AddMetadata(trace::kMetadataKey, r.traceparent());
    return stub_->PrepareAsyncEvaluate(context, r, &queue_);
  });
  return call;
}

std::shared_ptr<DispatcherClient::Call> GrpcDispatcherClient::GetInterests(
    const v1::GetInterestsRequest& request, std::chrono::system_clock::time_point deadline,
    InterestsDone done) {
  using C = UnaryCall<CallTracker, v1::GetInterestsRequest, v1::GetInterestsResponse>;
  // The answer says whether the dispatcher serves the batched EvaluateStream (see the proto; one
  // of an earlier release leaves evaluate_batches unset, and evaluations stay unary).
  auto noted = [this, done = std::move(done)](const grpc::Status& status,
                                              v1::GetInterestsResponse response) {
    if (status.ok() && response.evaluate_batches() && use_stream_ &&
        !stream_offered_.exchange(true, std::memory_order_acq_rel)) {
      spdlog::info(
          "sink: the dispatcher serves EvaluateStream: evaluating over one batched "
          "stream");
      stream_->Warm();
    }
    done(status, std::move(response));
  };
  auto call =
      std::make_shared<C>(tracker_, request, /*copy_request=*/true, deadline, std::move(noted));
  call->Start(call, [this](grpc::ClientContext* context, const v1::GetInterestsRequest& r) {
    return stub_->PrepareAsyncGetInterests(context, r, &queue_);
  });
  return call;
}

}  // namespace smtpbridge::sink
