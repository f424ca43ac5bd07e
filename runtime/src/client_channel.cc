#include "smtpbridge/grpc/client_channel.h"

#include <grpcpp/create_channel.h>

namespace smtpbridge::grpc_client {

std::string ServiceConfigJson(std::string_view health_service) {
  // Service names are proto full names: no character needs JSON escaping.
  std::string json =
      R"({"loadBalancingConfig":[{"round_robin":{}}],"healthCheckConfig":{"serviceName":")";
  json += health_service;
  json += R"("})";
  if (!health_service.empty()) {
    // One retry of a call that failed UNAVAILABLE (a replica draining, restarting or gone between
    // the pick and the call) or that the server CANCELLED (a replica whose drain deadline passed
    // with the call still running), on the next replica round_robin picks, within the call's
    // deadline. A call the client cancels itself is never retried.
    json += R"(,"methodConfig":[{"name":[{"service":")";
    json += health_service;
    json += R"("}],"retryPolicy":{"maxAttempts":2,"initialBackoff":"0.005s","maxBackoff":"0.05s",)"
            R"("backoffMultiplier":2,"retryableStatusCodes":["UNAVAILABLE","CANCELLED"]}}])";
  }
  json += "}";
  return json;
}

grpc::ChannelArguments ClientChannelArgs(std::string_view health_service) {
  grpc::ChannelArguments args;
  args.SetServiceConfigJSON(ServiceConfigJson(health_service));
  // Health checking needs GRPC_ARG_INHIBIT_HEALTH_CHECKING unset (it is, by default).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
              static_cast<int>(kInitialReconnectBackoff.count()));
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, static_cast<int>(kMinReconnectBackoff.count()));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, static_cast<int>(kMaxReconnectBackoff.count()));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, static_cast<int>(kKeepaliveTime.count()));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, static_cast<int>(kKeepaliveTimeout.count()));
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS,
              static_cast<int>(kMinTimeBetweenResolutions.count()));
  return args;
}

std::shared_ptr<grpc::Channel> CreateClientChannel(
    const std::string& target, const std::shared_ptr<grpc::ChannelCredentials>& credentials,
    std::string_view health_service) {
  return grpc::CreateCustomChannel(target, credentials, ClientChannelArgs(health_service));
}

}  // namespace smtpbridge::grpc_client
