// Child processes for integration tests: start a real binary, wait until it is ready, stop it.
// Every wait is bounded; the destructor always stops and reaps the child.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace smtpbridge::testing {

class Process {
 public:
  // Starts argv[0] (a path) with argv; stdout and stderr go to `log_file` when given, else to
  // the test's own stderr. `env` entries are added to the inherited environment.
  Process(std::vector<std::string> argv, std::filesystem::path log_file = {},
          std::map<std::string, std::string> env = {});
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool Running();

  // Waits until `file` exists and is non-empty (servers write "host:port\n" to their
  // --ready-file once listening) and returns its first line; nullopt on timeout or early exit.
  std::optional<std::string> WaitForReadyFile(
      const std::filesystem::path& file,
      std::chrono::milliseconds timeout = std::chrono::seconds(20));

  // Sends a signal (e.g. SIGHUP to reload).
  void Signal(int signo);

  // SIGTERM, then SIGKILL after `grace`; returns the exit status as from waitpid (or -1).
  int Stop(std::chrono::milliseconds grace = std::chrono::seconds(10));

  // Waits for the process to exit by itself; nullopt on timeout.
  std::optional<int> Wait(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

// A server started with `--ready-file DIR/NAME.ready` appended to its argv and its output in
// DIR/NAME.log, and the address it reported. StartReady throws std::runtime_error (with the log)
// when it does not become ready within `timeout`.
struct ReadyServer {
  std::unique_ptr<Process> process;
  std::string address;
  int port() const;
};
ReadyServer StartReady(const std::filesystem::path& dir, const std::string& name,
                       std::vector<std::string> argv,
                       std::chrono::milliseconds timeout = std::chrono::seconds(20));

// Waits until a TCP connect to host:port succeeds; false on timeout.
bool WaitForTcp(const std::string& host, int port,
                std::chrono::milliseconds timeout = std::chrono::seconds(20));

// A port that was free a moment ago on 127.0.0.1 (for peers that cannot report port 0,
// e.g. smtp-sink or Postfix).
int FreeTcpPort();

// "127.0.0.1:4242" -> 4242; -1 when malformed.
int PortOf(const std::string& host_port);

// Directory of the running test binary's build tree root, from the SMTPBRIDGE_BUILD_DIR
// environment (set by ctest) or the current directory.
std::filesystem::path BuildDir();

}  // namespace smtpbridge::testing
