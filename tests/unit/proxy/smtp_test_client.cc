#include "smtp_test_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>

namespace smtpbridge::testing {

SmtpTestClient::SmtpTestClient(int port, std::chrono::milliseconds timeout) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) Close();
}

SmtpTestClient::~SmtpTestClient() { Close(); }

void SmtpTestClient::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool SmtpTestClient::SendRaw(const std::string& bytes) {
  if (fd_ < 0) return false;
  size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

TestReply SmtpTestClient::ReadReply() {
  TestReply reply;
  std::string text;
  while (fd_ >= 0) {
    const size_t eol = buf_.find("\r\n");
    if (eol == std::string::npos) {
      char chunk[4096];
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) return TestReply{0, text};
      buf_.append(chunk, static_cast<size_t>(n));
      continue;
    }
    const std::string line = buf_.substr(0, eol);
    buf_.erase(0, eol + 2);
    if (!text.empty()) text += "\r\n";
    text += line;
    if (line.size() < 3 || !std::isdigit(static_cast<unsigned char>(line[0])))
      return TestReply{0, text};
    if (line.size() == 3 || line[3] == ' ') {
      reply.code = std::stoi(line.substr(0, 3));
      reply.text = text;
      return reply;
    }
  }
  return reply;
}

TestReply SmtpTestClient::Command(const std::string& line) {
  if (!SendRaw(line + "\r\n")) return {};
  return ReadReply();
}

bool SmtpTestClient::WaitClosed(std::chrono::milliseconds timeout) {
  if (fd_ < 0) return true;
  const auto until = std::chrono::steady_clock::now() + timeout;
  char chunk[4096];
  while (std::chrono::steady_clock::now() < until) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, MSG_DONTWAIT);
    if (n == 0) return true;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return true;
  }
  return false;
}

}  // namespace smtpbridge::testing
