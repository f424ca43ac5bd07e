// The baseline: the same two gRPC hops with no smtpbridge logic. A forwarder implements
// Dispatcher.Evaluate by calling PolicySink.OnEvent on an echo server, each in its own process
// (this binary re-executed with --role), like dispatcher and worker. Either on the callback API
// or on the completion-queue (CQ) API: N threads, each driving its own ServerCompletionQueue,
// a request and its forwarded call on the same CQ.
#pragma once

#include <cstddef>
#include <string>

namespace smtpbridge::bench {

enum class Api { kCallback, kCq };

// Serve until SIGTERM; write the bound host:port to `ready_file`. Return the exit code.
// `threads` is the number of CQ threads (kCq only).
int RunEchoServer(const std::string& listen, const std::string& ready_file, Api api,
                  size_t threads);
int RunForwarder(const std::string& listen, const std::string& target,
                 const std::string& ready_file, Api api, size_t threads);

}  // namespace smtpbridge::bench
