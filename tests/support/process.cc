#include "support/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <thread>

namespace smtpbridge::testing {
namespace {
constexpr auto kPoll = std::chrono::milliseconds(10);
}

Process::Process(std::vector<std::string> argv, std::filesystem::path log_file,
                 std::map<std::string, std::string> env) {
  if (argv.empty()) throw std::invalid_argument("Process: empty argv");
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::setpgid(0, 0);  // own process group, so Stop() also reaches its children
    if (!log_file.empty()) {
      int fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        ::close(fd);
      }
    }
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::setpgid(pid_, pid_);
}

Process::~Process() { Stop(std::chrono::seconds(5)); }

bool Process::Running() {
  if (status_ || pid_ <= 0) return false;
  int st = 0;
  if (::waitpid(pid_, &st, WNOHANG) == pid_) {
    status_ = st;
    return false;
  }
  return true;
}

std::optional<std::string> Process::WaitForReadyFile(const std::filesystem::path& file,
                                                     std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    std::ifstream in(file);
    std::string line;
    if (in && std::getline(in, line) && !line.empty()) return line;
    if (!Running()) return std::nullopt;
    std::this_thread::sleep_for(kPoll);
  }
  return std::nullopt;
}

void Process::Signal(int signo) {
  if (Running()) ::kill(pid_, signo);
}

std::optional<int> Process::Wait(std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (Running()) {
    if (std::chrono::steady_clock::now() >= until) return std::nullopt;
    std::this_thread::sleep_for(kPoll);
  }
  return status_;
}

int Process::Stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return -1;
  if (Running()) {
    ::kill(-pid_, SIGTERM);
    ::kill(pid_, SIGTERM);
    if (!Wait(grace)) {
      ::kill(-pid_, SIGKILL);
      ::kill(pid_, SIGKILL);
      Wait(std::chrono::seconds(5));
    }
  }
  return status_.value_or(-1);
}

bool WaitForTcp(const std::string& host, int port, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    if (ok) return true;
    std::this_thread::sleep_for(kPoll);
  }
  return false;
}

int FreeTcpPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

int PortOf(const std::string& host_port) {
  const auto colon = host_port.rfind(':');
  if (colon == std::string::npos) return -1;
  try {
    return std::stoi(host_port.substr(colon + 1));
  } catch (...) {
    return -1;
  }
}

std::filesystem::path BuildDir() {
  if (const char* dir = std::getenv("SMTPBRIDGE_BUILD_DIR")) return dir;
  return std::filesystem::current_path();
}

int ReadyServer::port() const { return PortOf(address); }

ReadyServer StartReady(const std::filesystem::path& dir, const std::string& name,
                       std::vector<std::string> argv, std::chrono::milliseconds timeout) {
  const auto ready = dir / (name + ".ready");
  const auto log = dir / (name + ".log");
  std::filesystem::remove(ready);
  argv.push_back("--ready-file");
  argv.push_back(ready.string());
  ReadyServer server;
  server.process = std::make_unique<Process>(argv, log);
  auto address = server.process->WaitForReadyFile(ready, timeout);
  if (!address) {
    std::ifstream in(log);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    throw std::runtime_error(name + " did not become ready; its log (" + log.string() + "):\n" +
                             text);
  }
  server.address = *address;
  return server;
}

}  // namespace smtpbridge::testing
