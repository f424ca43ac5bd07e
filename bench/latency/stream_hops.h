// The streaming baseline: two raw gRPC hops, each one long-lived bidirectional stream
// (PolicySink.OnEvents, SinkRequests / SinkAnswers) batched the way the product batches: whatever
// is queued is sent as one message as soon as the previous write completes, never waiting to
// fill a batch. Client (this process) -> stream forwarder -> stream echo, each server its own
// process on the completion-queue API with one thread, no smtpbridge logic. Answers are matched
// by stream_id. See bench/README.md ("concurrency sweep").
#pragma once

#include <memory>
#include <string>

#include "measure.h"

namespace smtpbridge::bench {

// Serve until SIGTERM; write the bound host:port to `ready_file`. Return the exit code.
int RunStreamEcho(const std::string& listen, const std::string& ready_file);
int RunStreamForwarder(const std::string& listen, const std::string& target,
                       const std::string& ready_file);

// One OnEvents stream to `target` (host:port), batched as above, with its own completion-queue
// thread. A broken stream answers everything outstanding (and everything after) as not answered.
class StreamClient {
 public:
  explicit StreamClient(const std::string& target);
  ~StreamClient();
  StreamClient(const StreamClient&) = delete;
  StreamClient& operator=(const StreamClient&) = delete;

  void Evaluate(v1::Event event, Done done);
  Submit submit() {
    return [this](v1::Event e, Done d) { Evaluate(std::move(e), std::move(d)); };
  }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace smtpbridge::bench
