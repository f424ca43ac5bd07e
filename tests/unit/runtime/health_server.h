// A gRPC server on 127.0.0.1:0 that serves only the CQ health service, on one completion queue
// and one thread, for the tests of the health service and of the client channel configuration.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <thread>

#include "smtpbridge/cq/cq_gate.h"
#include "smtpbridge/health/cq_health_service.h"

namespace smtpbridge::testing {

class HealthServer {
 public:
  using Service = health::CqHealthService<cq::CqTag, cq::CqGate>;

  explicit HealthServer(std::string service_name) : health_(std::move(service_name), &gate_) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&health_);
    cq_ = builder.AddCompletionQueue();
    gate_.Open();
    server_ = builder.BuildAndStart();
    health_.Arm(cq_.get());
    thread_ = std::thread([this] {
      void* tag = nullptr;
      bool ok = false;
      while (cq_->Next(&tag, &ok)) static_cast<cq::CqTag*>(tag)->Proceed(ok);
    });
  }
  ~HealthServer() { Stop(); }

  // The drain order of the dispatcher and the worker SDK, then the server stops.
  void Stop() {
    if (stopped_) return;
    stopped_ = true;
    health_.SetServing(false);
    health_.WaitWatchersTold(std::chrono::seconds(5));
    health_.EndWatches();
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    server_->Wait();
    gate_.Close();
    cq_->Shutdown();
    thread_.join();
  }

  Service& health() { return health_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  grpc::Server& server() { return *server_; }

 private:
  cq::CqGate gate_;
  Service health_;
  int port_ = 0;
  std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  std::unique_ptr<grpc::Server> server_;
  std::thread thread_;
  bool stopped_ = false;
};

}  // namespace smtpbridge::testing
