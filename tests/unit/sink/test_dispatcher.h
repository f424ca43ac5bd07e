// A tiny real Dispatcher gRPC server for the sink's gRPC and C ABI tests. It decides by the
// event's command argument (or envelope recipient):
//   contains "reject"      -> REJECT 550 5.7.1, decided_by "test-reject"
//   contains "late"        -> waits until ReleaseLate(), the call is cancelled, or 5 s pass;
//                             then CONTINUE
//   contains "unavailable" -> status UNAVAILABLE
//   otherwise              -> CONTINUE
// GetInterests answers what SetInterests() set (nothing by default). EvaluateStream decides the
// same way, when served (`serve_stream`; else it answers UNIMPLEMENTED, like an older dispatcher);
// "unavailable" there ends the whole stream with UNAVAILABLE.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>

#include "smtpbridge/v1/dispatcher.grpc.pb.h"

namespace smtpbridge::sink::testing {

class TestDispatcher {
 public:
  // Listens on `listen` ("127.0.0.1:0" picks a free port); plaintext unless `credentials`.
  explicit TestDispatcher(const std::string& listen = "127.0.0.1:0",
                          std::shared_ptr<grpc::ServerCredentials> credentials = nullptr,
                          bool serve_stream = false);
  ~TestDispatcher();

  int port() const { return port_; }
  std::string target() const { return "ipv4:127.0.0.1:" + std::to_string(port_); }

  void ReleaseLate();
  void SetInterests(const v1::GetInterestsResponse& interests);
  int evaluations() const { return evaluations_.load(); }
  int cancelled() const { return cancelled_.load(); }
  int streams() const { return streams_.load(); }                        // EvaluateStream calls
  int stream_evaluations() const { return stream_evaluations_.load(); }  // requests read on them
  void Shutdown();

 private:
  class Service;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::atomic<int> evaluations_{0};
  std::atomic<int> cancelled_{0};
  const bool serve_stream_;
  std::atomic<int> streams_{0};
  std::atomic<int> stream_evaluations_{0};
};

}  // namespace smtpbridge::sink::testing
