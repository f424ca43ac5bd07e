// A tiny real Dispatcher gRPC server for the sink's gRPC and C ABI tests. It decides by the
// event's command argument (or envelope recipient):
//   contains "reject"      -> REJECT 550 5.7.1, decided_by "test-reject"
//   contains "late"        -> waits until ReleaseLate(), the call is cancelled, or 5 s pass;
//                             then CONTINUE
//   contains "gated"       -> the same, released by OpenGate() (or ReleaseLate())
//   contains "unavailable" -> status UNAVAILABLE
//   otherwise              -> CONTINUE
// GetInterests answers what SetInterests() set (nothing by default). EvaluateStream decides the
// same way, when served (`serve_stream`; else it answers UNIMPLEMENTED, like an older dispatcher):
// the answers to a message's requests that are not "late" go back together in one message, each
// "late" one in a message of its own once released; a message with an "unavailable" request ends
// the whole stream with UNAVAILABLE. It keeps every request message it read (their arguments).
#pragma once

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

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
  void OpenGate();
  void SetInterests(const v1::GetInterestsResponse& interests);
  int evaluations() const { return evaluations_.load(); }
  int cancelled() const { return cancelled_.load(); }
  int streams() const { return streams_.load(); }                        // EvaluateStream calls
  int stream_evaluations() const { return stream_evaluations_.load(); }  // requests read on them
  // Each EvaluateRequests message read so far: its requests' command arguments, in order.
  std::vector<std::vector<std::string>> stream_messages() const;
  // Until `n` requests were read on streams (false after a generous bound: the test fails, not
  // hangs).
  bool WaitStreamEvaluations(int n);
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
  mutable std::mutex messages_mu_;
  std::condition_variable messages_cv_;
  std::vector<std::vector<std::string>> messages_;
};

}  // namespace smtpbridge::sink::testing
