// The OnEvents messages on the wire (proto/smtpbridge/v1/sink.proto). A SinkRequests message is
// put together from entries serialized once each, when the call is made: the request (shared by
// the fan-out, never copied or touched) followed by its stream_id and traceparent fields (a
// field appended to a serialized message reads as if it had been set). A batch is then only
// the list of those slices plus the packed cancel list: no copy of an event per message.
#pragma once

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/slice.h>

#include <cstdint>
#include <string_view>
#include <vector>

#include "smtpbridge/v1/sink.pb.h"

namespace smtpbridge::dispatcher {

// One SinkRequests.requests entry (tag, length, body).
grpc::Slice EncodeRequestEntry(const v1::SinkRequest& request, uint64_t stream_id,
                               std::string_view traceparent);

// A SinkRequests message of `entries` (moved out) and `cancel`.
grpc::ByteBuffer EncodeBatch(std::vector<grpc::Slice>* entries,
                             const std::vector<uint64_t>& cancel);

// False when the bytes are not a SinkAnswers message.
bool ParseAnswers(const grpc::ByteBuffer& buffer, v1::SinkAnswers* answers);

}  // namespace smtpbridge::dispatcher
