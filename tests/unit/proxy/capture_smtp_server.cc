#include "capture_smtp_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <stdexcept>

namespace smtpbridge::testing {
namespace {

bool SendAll(int fd, const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string Between(const std::string& line, char open, char close) {
  const size_t a = line.find(open);
  const size_t b = line.find(close, a == std::string::npos ? 0 : a);
  if (a == std::string::npos || b == std::string::npos) return {};
  return line.substr(a + 1, b - a - 1);
}

}  // namespace

CaptureSmtpServer::CaptureSmtpServer() = default;
CaptureSmtpServer::~CaptureSmtpServer() { Stop(); }

int CaptureSmtpServer::Start() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 64) != 0) {
    throw std::runtime_error("capture server: bind/listen failed");
  }
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  accept_thread_ = std::thread([this] {
    while (!stopping_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      sessions_.fetch_add(1);
      std::lock_guard lock(mu_);
      client_fds_.push_back(fd);
      workers_.emplace_back([this, fd] { Serve(fd); });
    }
  });
  return port_;
}

void CaptureSmtpServer::Stop() {
  if (stopping_.exchange(true)) return;
  if (accept_thread_.joinable()) accept_thread_.join();
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(mu_);
    for (int fd : client_fds_) ::shutdown(fd, SHUT_RDWR);
    workers.swap(workers_);
  }
  for (auto& t : workers) t.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

void CaptureSmtpServer::set_script(Script script) {
  std::lock_guard lock(mu_);
  script_ = std::move(script);
}
void CaptureSmtpServer::set_data_reply(std::string reply) {
  std::lock_guard lock(mu_);
  data_reply_ = std::move(reply);
}
void CaptureSmtpServer::set_greeting(std::string greeting) {
  std::lock_guard lock(mu_);
  greeting_ = std::move(greeting);
}

std::vector<CaptureSmtpServer::Message> CaptureSmtpServer::messages() const {
  std::lock_guard lock(mu_);
  return messages_;
}
std::vector<std::string> CaptureSmtpServer::commands() const {
  std::lock_guard lock(mu_);
  return commands_;
}

bool CaptureSmtpServer::WaitForCommands(size_t n, std::chrono::milliseconds timeout) const {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (commands().size() >= n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

bool CaptureSmtpServer::WaitForQuitOrClose(int sessions_closed,
                                           std::chrono::milliseconds timeout) const {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (closed_.load() >= sessions_closed) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

void CaptureSmtpServer::Serve(int fd) {
  std::string greeting;
  {
    std::lock_guard lock(mu_);
    greeting = greeting_;
  }
  SendAll(fd, greeting + "\r\n");
  std::string buf;
  bool in_data = false;
  Message current;
  std::string data;
  char chunk[8192];
  bool open = !greeting.starts_with("421");
  while (open && !stopping_) {
    const size_t eol = buf.find("\r\n");
    if (eol == std::string::npos) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) break;
      buf.append(chunk, static_cast<size_t>(n));
      continue;
    }
    std::string line = buf.substr(0, eol);
    buf.erase(0, eol + 2);
    if (in_data) {
      if (line != ".") {
        data += line + "\r\n";
        continue;
      }
      in_data = false;
      std::string reply;
      {
        std::lock_guard lock(mu_);
        reply = data_reply_;
        if (reply.starts_with("2")) {
          current.data = data;
          messages_.push_back(current);
        }
      }
      if (reply == "DISCONNECT") break;
      SendAll(fd, reply + "\r\n");
      current = Message{};
      continue;
    }
    std::optional<std::string> scripted;
    {
      std::lock_guard lock(mu_);
      commands_.push_back(line);
      if (script_) scripted = script_(line);
    }
    if (scripted && *scripted == "DISCONNECT") break;
    const std::string verb = Upper(line.substr(0, 4));
    std::string reply;
    if (scripted) {
      reply = *scripted + "\r\n";
    } else if (verb == "EHLO") {
      reply =
          "250-capture.test\r\n250-PIPELINING\r\n250-SIZE 100000000\r\n250-8BITMIME\r\n250 "
          "ENHANCEDSTATUSCODES\r\n";
    } else if (verb == "HELO") {
      reply = "250 capture.test\r\n";
    } else if (verb == "MAIL") {
      current = Message{};
      current.sender = Between(line, '<', '>');
      reply = "250 2.1.0 Ok\r\n";
    } else if (verb == "RCPT") {
      current.recipients.push_back(Between(line, '<', '>'));
      reply = "250 2.1.5 Ok\r\n";
    } else if (verb == "DATA") {
      in_data = true;
      data.clear();
      reply = "354 End data with <CR><LF>.<CR><LF>\r\n";
    } else if (verb == "RSET") {
      current = Message{};
      reply = "250 2.0.0 Ok\r\n";
    } else if (verb == "QUIT") {
      SendAll(fd, "221 2.0.0 Bye\r\n");
      break;
    } else {
      reply = "502 5.5.2 Error: command not recognized\r\n";
    }
    if (scripted && (verb == "DATA") && !scripted->starts_with("354")) in_data = false;
    if (!SendAll(fd, reply)) break;
    if (scripted && scripted->starts_with("421")) break;
  }
  {
    std::lock_guard lock(mu_);
    std::erase(client_fds_, fd);
  }
  ::close(fd);
  closed_.fetch_add(1);
}

}  // namespace smtpbridge::testing
