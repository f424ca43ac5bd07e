// The shared client channel configuration: round_robin over every address, and client-side
// health checking (Watch) that keeps a NOT_SERVING replica out of the rotation until it serves
// again. Two health-only servers on loopback tell their answers apart by service name: "a" is
// known to server A only, so Check("a") is OK from A and NOT_FOUND from B.
#include "smtpbridge/grpc/client_channel.h"

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "health_server.h"

namespace smtpbridge::grpc_client {
namespace {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using smtpbridge::testing::HealthServer;

TEST(ClientChannelTest, ServiceConfigIsRoundRobinWithHealthChecking) {
  const auto config = nlohmann::json::parse(ServiceConfigJson(kDispatcherHealthService));
  EXPECT_TRUE(config["loadBalancingConfig"][0].contains("round_robin"));
  EXPECT_EQ(config["healthCheckConfig"]["serviceName"], "smtpbridge.v1.Dispatcher");
  EXPECT_EQ(nlohmann::json::parse(
                ServiceConfigJson(kWorkerHealthService))["healthCheckConfig"]["serviceName"],
            "smtpbridge.v1.PolicySink");
  const auto& method = config["methodConfig"][0];
  EXPECT_EQ(method["name"][0]["service"], "smtpbridge.v1.Dispatcher");
  EXPECT_EQ(method["retryPolicy"]["maxAttempts"], 2);
  EXPECT_EQ(method["retryPolicy"]["retryableStatusCodes"],
            nlohmann::json::array({"UNAVAILABLE", "CANCELLED"}));
  EXPECT_FALSE(nlohmann::json::parse(ServiceConfigJson("")).contains("methodConfig"));
}

class TwoReplicas : public ::testing::Test {
 protected:
  enum class Hit { kA, kB, kError };

  void SetUp() override {
    const std::string target = "ipv4:" + a_.address() + "," + b_.address();
    // Health checking on "" (both servers know it); the round_robin and backoff are the shared
    // ones.
    channel_ = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(),
                                         ClientChannelArgs(""));
    stub_ = grpc::health::v1::Health::NewStub(channel_);
  }

  Hit Call() {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    HealthCheckRequest request;
    request.set_service("a");
    HealthCheckResponse response;
    const grpc::Status status = stub_->Check(&context, request, &response);
    if (status.ok()) return Hit::kA;
    if (status.error_code() == grpc::StatusCode::NOT_FOUND) return Hit::kB;
    return Hit::kError;
  }

  // Calls until `n` in a row satisfy `want` (bounded); false when they never do or a call fails.
  template <typename Want>
  bool RunOf(int n, Want want) {
    int run = 0;
    for (int i = 0; i < 5000 && run < n; ++i) {
      const Hit hit = Call();
      if (hit == Hit::kError) return false;
      run = want(hit) ? run + 1 : 0;
      if (run == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return run >= n;
  }

  HealthServer a_{"a"};
  HealthServer b_{"b"};
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<grpc::health::v1::Health::Stub> stub_;
};

TEST_F(TwoReplicas, CallsSpreadOverBothAndSkipTheOneNotServing) {
  // Once both subchannels are ready, round_robin alternates: 20 calls reach both.
  ASSERT_TRUE(RunOf(1, [](Hit h) { return h == Hit::kA; }));
  ASSERT_TRUE(RunOf(1, [](Hit h) { return h == Hit::kB; }));
  int a = 0, b = 0;
  for (int i = 0; i < 20; ++i) (Call() == Hit::kA ? a : b)++;
  EXPECT_EQ(a, 10);
  EXPECT_EQ(b, 10);

  // A drains: its watcher hears NOT_SERVING and the channel stops picking it; no call fails.
  a_.health().SetServing(false);
  ASSERT_TRUE(RunOf(100, [](Hit h) { return h == Hit::kB; }));
  // Serving again: back in the rotation.
  a_.health().SetServing(true);
  ASSERT_TRUE(RunOf(1, [](Hit h) { return h == Hit::kA; }));
}

TEST_F(TwoReplicas, AStoppedReplicaCostsNoFailedCall) {
  ASSERT_TRUE(RunOf(1, [](Hit h) { return h == Hit::kA; }));
  ASSERT_TRUE(RunOf(1, [](Hit h) { return h == Hit::kB; }));
  a_.Stop();  // NOT_SERVING to its watcher, then it closes
  for (int i = 0; i < 100; ++i) EXPECT_EQ(Call(), Hit::kB) << i;
}

}  // namespace
}  // namespace smtpbridge::grpc_client
