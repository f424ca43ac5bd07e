// A blocking SMTP client for tests: raw bytes in, whole replies out, every wait bounded.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace smtpbridge::testing {

struct TestReply {
  int code = 0;      // 0: connection closed or timed out before a full reply
  std::string text;  // all lines, CRLF-joined, as received
  int klass() const { return code / 100; }
};

class SmtpTestClient {
 public:
  explicit SmtpTestClient(int port, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~SmtpTestClient();

  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  bool SendRaw(const std::string& bytes);
  TestReply ReadReply();
  // Sends `line` + CRLF and reads one reply.
  TestReply Command(const std::string& line);
  // Reads replies until the peer closes; true when it closed (EOF) within the timeout.
  bool WaitClosed(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  void Close();

 private:
  int fd_ = -1;
  std::string buf_;
};

}  // namespace smtpbridge::testing
