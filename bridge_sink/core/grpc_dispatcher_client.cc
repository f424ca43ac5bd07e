#include "core/grpc_dispatcher_client.h"

#include <pthread.h>

#include <stdexcept>
#include <utility>

#include <grpcpp/client_context.h>
#include <grpcpp/support/async_unary_call.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <spdlog/spdlog.h>

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
  grpc::ChannelArguments args;
  tls::ApplyChannelArgs(tls, &args);
  // Keep the persistent channel warm and notice a dead dispatcher quickly.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // Reconnect attempts stay frequent, so a restarted dispatcher is found within a second.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  return grpc::CreateCustomChannel(target, MakeCredentials(tls), args);
}

}  // namespace

GrpcDispatcherClient::GrpcDispatcherClient(const std::string& target, const TlsOptions& tls)
    : GrpcDispatcherClient(MakeChannel(target, tls)) {}

GrpcDispatcherClient::GrpcDispatcherClient(std::shared_ptr<grpc::Channel> channel)
    : channel_(std::move(channel)),
      stub_(v1::Dispatcher::NewStub(channel_)),
      stream_(std::make_unique<EvaluateStream>(
          channel_, &queue_,
          [this](const v1::EvaluateRequest& request, std::chrono::system_clock::time_point deadline,
                 EvaluateDone done) { return UnaryEvaluate(request, deadline, std::move(done)); })),
      thread_([this] { DriveQueue(); }) {
  // Connect now, in the background (GetState(true) only starts it), so the first events do not
  // wait for name resolution and the TCP/TLS handshake and miss their budget at cold start.
  channel_->GetState(/*try_to_connect=*/true);
}

GrpcDispatcherClient::~GrpcDispatcherClient() {
  // Callers finish (or cancel) their calls first; what is left is the queue handing them back.
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
  auto call = std::make_shared<C>(tracker_, request, /*copy_request=*/false, deadline, std::move(done));
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
  // The answer says whether the dispatcher serves EvaluateStream (see the proto).
  auto noted = [this, done = std::move(done)](const grpc::Status& status, v1::GetInterestsResponse response) {
    if (status.ok() && response.evaluate_stream() && use_stream_ &&
        !stream_offered_.exchange(true, std::memory_order_acq_rel)) {
      spdlog::info("sink: the dispatcher serves EvaluateStream: evaluating over one stream");
      stream_->Warm();
    }
    done(status, std::move(response));
  };
  auto call = std::make_shared<C>(tracker_, request, /*copy_request=*/true, deadline, std::move(noted));
  call->Start(call, [this](grpc::ClientContext* context, const v1::GetInterestsRequest& r) {
    return stub_->PrepareAsyncGetInterests(context, r, &queue_);
  });
  return call;
}

}  // namespace smtpbridge::sink
