// How a dispatcher says "shed": it did not evaluate the event because it was over a limit
// (its global in-flight limit or a worker pool's concurrency limit), and the sink should answer
// from its fallback (reason `shed`) at once. Shed answers are not failures: the sink keeps them
// out of its circuit breaker's failure counts (docs/overload.md).
//
//  - Evaluate (unary): status RESOURCE_EXHAUSTED with a message starting "shed: ".
//  - EvaluateStream (no per-request status): a response whose decided_by starts "!shed:" (no
//    binding name can: names start with a letter or digit), carrying a 451 4.3.2 TEMPFAIL
//    verdict, so a sink that does not know the marker still fails safe.
#pragma once

#include <grpcpp/support/status.h>

#include <string>
#include <string_view>

#include "smtpbridge/v1/dispatcher.pb.h"

namespace smtpbridge::v1 {

inline constexpr std::string_view kShedStatusPrefix = "shed: ";
inline constexpr std::string_view kShedDecidedByPrefix = "!shed:";

// The stream answer for an event shed for `reason` ("in_flight", "pool_limit").
inline EvaluateResponse ShedResponse(std::string_view reason) {
  EvaluateResponse r;
  r.set_decided_by(std::string(kShedDecidedByPrefix) + std::string(reason));
  auto* v = r.mutable_verdict();
  v->set_action(ACTION_TEMPFAIL);
  v->mutable_reply()->set_code(451);
  v->mutable_reply()->set_enhanced_code("4.3.2");
  v->mutable_reply()->add_lines("Policy service busy, try again later");
  v->set_reason("shed: " + std::string(reason));
  return r;
}

inline bool IsShedResponse(const EvaluateResponse& r) {
  return std::string_view(r.decided_by()).starts_with(kShedDecidedByPrefix);
}

// The reason of a shed response ("in_flight"), empty when it is not one.
inline std::string_view ShedReason(const EvaluateResponse& r) {
  return IsShedResponse(r) ? std::string_view(r.decided_by()).substr(kShedDecidedByPrefix.size())
                           : std::string_view();
}

// The unary status for an event shed for `reason`.
inline grpc::Status ShedStatus(std::string_view reason) {
  return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                      std::string(kShedStatusPrefix) + std::string(reason));
}

// Whether a dispatcher answer (either form) is a shed.
inline bool IsShed(const grpc::Status& status, const EvaluateResponse& response) {
  if (status.ok()) return IsShedResponse(response);
  return status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
         std::string_view(status.error_message()).starts_with(kShedStatusPrefix);
}

}  // namespace smtpbridge::v1
