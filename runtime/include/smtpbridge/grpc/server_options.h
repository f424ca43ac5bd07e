// What every smtpbridge gRPC server (the dispatcher, the C++ worker SDK) sets on its builder, so
// the two cannot drift apart:
//   - no SO_REUSEPORT (gRPC's default is on): a second process on a busy port must fail with
//     "cannot listen", not silently share the first one's traffic;
//   - clients ping every 10 s, also between calls (client_channel.h): allowed, or the server would
//     answer "too many pings" with GOAWAY;
//   - a max connection age (off when zero), so clients of a dns:/// name re-resolve it and find
//     new replicas (docs/scaling.md).
#pragma once

#include <grpcpp/server_builder.h>

#include <chrono>

namespace smtpbridge::grpc_server {

struct ConnectionAge {
  std::chrono::milliseconds max{0};    // 0: connections live as long as the client likes
  std::chrono::milliseconds grace{0};  // after `max`, how long calls in flight may finish
};

void ApplyServerArgs(grpc::ServerBuilder& builder, const ConnectionAge& age);

}  // namespace smtpbridge::grpc_server
