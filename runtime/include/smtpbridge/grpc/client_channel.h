// The one client channel configuration every smtpbridge gRPC client uses (the sink's dispatcher
// channel, the dispatcher's worker channels, bridgectl), so they cannot drift apart:
//   - round_robin over every address the target resolves to (gRPC's default, pick_first, would
//     send everything to one replica whatever a dns:/// name lists);
//   - client-side health checking: each subchannel keeps a grpc.health.v1.Health/Watch stream open
//     for the service name its server reports, and a replica that says NOT_SERVING (draining)
//     gets no new calls or streams. A server without the Health service counts as healthy;
//   - one retry of a call that failed UNAVAILABLE (a replica draining or gone between the pick and
//     the call) or that the server cancelled (a drain deadline), on the next replica, within the
//     call's deadline (gRPC 1.51 implements retries, not hedging);
//   - short reconnect backoff (100 ms, at most 1 s), so a restarted replica is found quickly;
//   - keepalive pings, so a dead peer is noticed without waiting for a call to time out;
//   - DNS re-resolution at most once a second (gRPC's default: 30 s), so the connections that
//     servers close at their max connection age find new replicas promptly (docs/scaling.md).
// Credentials stay the caller's.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

namespace smtpbridge::grpc_client {

// The service names the servers report health for (besides "").
inline constexpr std::string_view kDispatcherHealthService = "smtpbridge.v1.Dispatcher";
inline constexpr std::string_view kWorkerHealthService = "smtpbridge.v1.PolicySink";

// Reconnect backoff and keepalive of every client channel.
inline constexpr std::chrono::milliseconds kInitialReconnectBackoff{100};
inline constexpr std::chrono::milliseconds kMinReconnectBackoff{100};
inline constexpr std::chrono::milliseconds kMaxReconnectBackoff{1000};
inline constexpr std::chrono::milliseconds kKeepaliveTime{10000};
inline constexpr std::chrono::milliseconds kKeepaliveTimeout{5000};
// The DNS resolver re-resolves when a connection ends (e.g. a server's max connection age), but
// by default at most every 30 s: a new replica would wait for that instead of the max age.
inline constexpr std::chrono::milliseconds kMinTimeBetweenResolutions{1000};

// {"loadBalancingConfig":[{"round_robin":{}}],"healthCheckConfig":{"serviceName":"<name>"},
//  "methodConfig":[{"name":[{"service":"<name>"}],"retryPolicy":{... UNAVAILABLE, CANCELLED, 2
//  attempts}}]}
// (no methodConfig when the name is empty)
std::string ServiceConfigJson(std::string_view health_service);

// The channel arguments: the service config above, reconnect backoff and keepalive. Callers add
// their own (e.g. an SSL target name override) before creating the channel.
grpc::ChannelArguments ClientChannelArgs(std::string_view health_service);

// grpc::CreateCustomChannel(target, credentials, ClientChannelArgs(health_service)).
std::shared_ptr<grpc::Channel> CreateClientChannel(
    const std::string& target, const std::shared_ptr<grpc::ChannelCredentials>& credentials,
    std::string_view health_service);

}  // namespace smtpbridge::grpc_client
