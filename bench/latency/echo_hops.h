// The baseline: the same two gRPC hops with no smtpbridge logic. A forwarder implements
// Dispatcher.Evaluate by calling PolicySink.OnEvent on an echo server, both on the callback API,
// each in its own process (this binary re-executed with --role), like dispatcher and worker.
#pragma once

#include <string>

namespace smtpbridge::bench {

// Serve until SIGTERM; write the bound host:port to `ready_file`. Return the exit code.
int RunEchoServer(const std::string& listen, const std::string& ready_file);
int RunForwarder(const std::string& listen, const std::string& target, const std::string& ready_file);

}  // namespace smtpbridge::bench
