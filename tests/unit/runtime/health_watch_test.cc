// grpc.health.v1.Health/Watch on the CQ health service: the status at once, every change, and
// the drain order (NOT_SERVING reaches the watcher, then its stream ends, and the server stops
// without waiting for its deadline).
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <vector>

#include "health_server.h"

namespace smtpbridge::health {
namespace {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using smtpbridge::testing::HealthServer;

std::unique_ptr<grpc::health::v1::Health::Stub> Stub(const std::string& address) {
  return grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
}

// Waits (bounded) until the server has `n` open Watch streams.
bool WaitWatchers(HealthServiceBase& health, size_t n) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (health.watchers() != n) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

TEST(HealthWatchTest, SendsServingThenNotServingOnDrainThenEnds) {
  HealthServer server("smtpbridge.v1.Dispatcher");
  auto stub = Stub(server.address());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  HealthCheckRequest request;
  request.set_service("smtpbridge.v1.Dispatcher");
  auto reader = stub->Watch(&context, request);
  HealthCheckResponse response;
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);
  ASSERT_TRUE(WaitWatchers(server.health(), 1));

  // Drain on another thread: the watcher hears NOT_SERVING, then the stream ends with OK, and
  // the server stops long before its 5 s shutdown deadline would cancel the stream.
  auto stopped = std::async(std::launch::async, [&] { server.Stop(); });
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
  EXPECT_FALSE(reader->Read(&response));
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(stopped.wait_for(std::chrono::seconds(4)), std::future_status::ready);
}

TEST(HealthWatchTest, EveryChangeAndEveryWatcher) {
  HealthServer server("smtpbridge.v1.PolicySink");
  auto stub = Stub(server.address());
  struct Watch {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> reader;
  };
  std::vector<std::unique_ptr<Watch>> watches;
  for (const std::string service : {"", "smtpbridge.v1.PolicySink"}) {
    auto w = std::make_unique<Watch>();
    HealthCheckRequest request;
    request.set_service(service);
    w->reader = stub->Watch(&w->context, request);
    HealthCheckResponse response;
    ASSERT_TRUE(w->reader->Read(&response));
    EXPECT_EQ(response.status(), HealthCheckResponse::SERVING) << service;
    watches.push_back(std::move(w));
  }
  ASSERT_TRUE(WaitWatchers(server.health(), 2));
  // (A change during a write goes out after it, as the latest status: read each one first.)
  server.health().SetServing(false);
  for (auto& w : watches) {
    HealthCheckResponse response;
    ASSERT_TRUE(w->reader->Read(&response));
    EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
  }
  server.health().SetServing(true);
  for (auto& w : watches) {
    HealthCheckResponse response;
    ASSERT_TRUE(w->reader->Read(&response));
    EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);
  }
  // A client that leaves is forgotten.
  watches[0]->context.TryCancel();
  EXPECT_FALSE(watches[0]->reader->Finish().ok());
  EXPECT_TRUE(WaitWatchers(server.health(), 1));
  EXPECT_TRUE(server.health().WaitWatchersTold(std::chrono::seconds(5)));
  server.Stop();
  HealthCheckResponse response;
  ASSERT_TRUE(watches[1]->reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
  EXPECT_FALSE(watches[1]->reader->Read(&response));
  EXPECT_TRUE(watches[1]->reader->Finish().ok());
}

TEST(HealthWatchTest, UnknownServiceStaysOpenWithServiceUnknown) {
  HealthServer server("smtpbridge.v1.Dispatcher");
  auto stub = Stub(server.address());
  grpc::ClientContext context;
  HealthCheckRequest request;
  request.set_service("no.such.Service");
  auto reader = stub->Watch(&context, request);
  HealthCheckResponse response;
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVICE_UNKNOWN);
  ASSERT_TRUE(WaitWatchers(server.health(), 1));
  context.TryCancel();
  reader->Finish();
}

TEST(HealthWatchTest, AfterEndWatchesANewWatchEndsUnavailableWithoutAnAnswer) {
  HealthServer server("smtpbridge.v1.Dispatcher");
  server.health().EndWatches();
  auto stub = Stub(server.address());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto reader = stub->Watch(&context, HealthCheckRequest{});
  HealthCheckResponse response;
  EXPECT_FALSE(reader->Read(&response));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  // Check still answers (NOT_SERVING), for probes.
  grpc::ClientContext check;
  ASSERT_TRUE(stub->Check(&check, HealthCheckRequest{}, &response).ok());
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
}

}  // namespace
}  // namespace smtpbridge::health
