// A tiny real SMTP server for tests: the proxy's next hop. It records every command line and
// every message it accepted (the exact bytes between DATA's 354 and the final "."), and can be
// scripted to refuse commands, delay, or disconnect.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace smtpbridge::testing {

class CaptureSmtpServer {
 public:
  struct Message {
    std::string sender;
    std::vector<std::string> recipients;
    std::string data;  // exact bytes as received, dot-stuffed, without the final ".\r\n"
  };
  // Per command line (without CRLF, as received): a full reply line ("550 5.1.1 no") to send
  // instead of the normal one, "DISCONNECT" to close without replying, or nullopt.
  using Script = std::function<std::optional<std::string>(const std::string& line)>;

  CaptureSmtpServer();
  ~CaptureSmtpServer();

  // Listens on 127.0.0.1:0; returns the port.
  int Start();
  void Stop();
  int port() const { return port_; }

  void set_script(Script script);
  // Reply to the final "." (default "250 2.0.0 Ok: queued").
  void set_data_reply(std::string reply);
  void set_greeting(std::string greeting);

  std::vector<Message> messages() const;
  std::vector<std::string> commands() const;  // every command line, all sessions
  int sessions() const { return sessions_.load(); }
  // Waits until `n` command lines were received (bounded); true when they were.
  bool WaitForCommands(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;
  bool WaitForQuitOrClose(int sessions_closed,
                          std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;

 private:
  void Serve(int fd);

  int listen_fd_ = -1;
  int port_ = 0;
  std::thread accept_thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> sessions_{0};
  std::atomic<int> closed_{0};
  mutable std::mutex mu_;
  std::vector<std::thread> workers_;
  std::vector<int> client_fds_;
  Script script_;
  std::string data_reply_ = "250 2.0.0 Ok: queued";
  std::string greeting_ = "220 capture.test ESMTP";
  std::vector<Message> messages_;
  std::vector<std::string> commands_;
};

}  // namespace smtpbridge::testing
