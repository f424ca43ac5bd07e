// The call to one policy worker, behind an interface so the fan-out logic is tested with a fake.
// The gRPC implementation lives in workers/.
#pragma once

#include <grpcpp/support/status.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "dispatch/clock.h"
#include "smtpbridge/v1/sink.pb.h"

namespace smtpbridge::dispatcher {

// Called exactly once per Call(), from any thread (possibly inline inside Call()).
using SinkCallback = std::function<void(const grpc::Status& status, v1::Verdict verdict)>;

class SinkClient {
 public:
  virtual ~SinkClient() = default;
  // Sends `request` to the worker pool at `target`; `deadline` is a steady-clock time point the
  // implementation converts for gRPC. Returns a function that cancels the call (its callback
  // then reports CANCELLED).
  virtual CancelFn Call(const std::string& target, std::shared_ptr<const v1::SinkRequest> request,
                        Clock::TimePoint deadline, SinkCallback done) = 0;
  // The same with a W3C `traceparent` for the call's metadata (empty: none). Clients that do
  // not propagate trace context leave this default.
  virtual CancelFn Call(const std::string& target, std::shared_ptr<const v1::SinkRequest> request,
                        Clock::TimePoint deadline, const std::string& traceparent,
                        SinkCallback done) {
    return Call(target, std::move(request), deadline, std::move(done));
  }
};

}  // namespace smtpbridge::dispatcher
