// bench_null_milter: the limit a milter can reach in bench/postfix. Speaks the milter protocol
// (v6) and answers continue at once, with no policy and no gRPC: one thread, one epoll loop,
// non-blocking sockets. It negotiates what smtpbridge-milter negotiates for one RCPT binding
// (connect, HELO and MAIL without replies, RCPT answered, DATA, headers, EOH, body and unknown
// commands left out; the same actions and the same macro lists), sets TCP_NODELAY, and asks for
// an immediate ACK when it goes back to reading without having replied (Postfix's next small
// packet would otherwise wait behind Nagle for our delayed ACK, see docs/milter.md).
//   bench_null_milter --listen inet:127.0.0.1:0|unix:/path [--ready-file F]
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <unordered_map>

namespace {

// libmilter's mfdef.h values (the same as bridge_sink/milter/milter_protocol.h).
constexpr uint32_t kVersion = 6;
constexpr uint32_t kNoData = 0x200, kNoUnknown = 0x100, kNoHeaders = 0x20, kNoBody = 0x10,
                   kNoEoh = 0x40;
constexpr uint32_t kNrConnect = 0x1000, kNrHelo = 0x2000, kNrMail = 0x4000, kNrRcpt = 0x8000,
                   kNrData = 0x10000, kNrUnknown = 0x20000, kNrEoh = 0x40000, kNrBody = 0x80000,
                   kNrHeader = 0x80;
// What smtpbridge-milter asks for with one RCPT binding (milter/negotiation.cc).
constexpr uint32_t kWantSteps =
    kNrConnect | kNrHelo | kNrMail | kNoData | kNoUnknown | kNoHeaders | kNoBody | kNoEoh;
constexpr uint32_t kSetSymList = 0x100;
constexpr uint32_t kWantActions =
    0x01 | 0x02 | 0x04 | 0x08 | 0x10 | 0x20 | 0x40 | 0x80 | kSetSymList;
const std::pair<uint32_t, const char*> kMacros[] = {
    {0,
     "j _ v {daemon_name} {daemon_addr} {daemon_port} {client_addr} {client_port} {client_name} "
     "{client_ptr} {client_connections}"},
    {1, "{tls_version} {cipher} {cipher_bits} {cert_subject} {cert_issuer}"},
    {2, "i {auth_type} {auth_authen} {auth_author} {mail_addr} {mail_host} {mail_mailer}"},
    {3, "i {rcpt_addr} {rcpt_host} {rcpt_mailer}"},
    {4, "i"},
    {5, "i"},
    {6, "i"},
};
constexpr size_t kMaxPacket = 1024 * 1024;

struct Conn {
  int fd;
  bool tcp;
  uint32_t steps = 0;  // negotiated protocol flags
  std::string in, out;
};

void PutU32(std::string& s, uint32_t v) {
  const uint32_t be = htonl(v);
  s.append(reinterpret_cast<const char*>(&be), 4);
}
uint32_t GetU32(const char* p) {
  uint32_t be;
  std::memcpy(&be, p, 4);
  return ntohl(be);
}
void Packet(std::string& out, char code, const std::string& payload = {}) {
  PutU32(out, static_cast<uint32_t>(payload.size() + 1));
  out.push_back(code);
  out += payload;
}

// One command; appends any reply to c.out. False: close the connection.
bool Handle(Conn& c, char cmd, const char* p, size_t n) {
  auto reply_unless = [&](uint32_t no_reply) {
    if (!(c.steps & no_reply)) Packet(c.out, 'c');
  };
  switch (cmd) {
    case 'O': {
      if (n < 12) return false;
      const uint32_t version = GetU32(p), actions = GetU32(p + 4), protocol = GetU32(p + 8);
      if (version < 2) return false;
      std::string r;
      const uint32_t v = version < kVersion ? version : kVersion;
      const uint32_t a = kWantActions & actions;
      c.steps = kWantSteps & protocol;
      PutU32(r, v);
      PutU32(r, a);
      PutU32(r, c.steps);
      if (v >= 6 && (a & kSetSymList)) {
        for (const auto& [stage, names] : kMacros) {
          PutU32(r, stage);
          r += names;
          r.push_back('\0');
        }
      }
      Packet(c.out, 'O', r);
      return true;
    }
    case 'C':
      reply_unless(kNrConnect);
      return true;
    case 'H':
      reply_unless(kNrHelo);
      return true;
    case 'M':
      reply_unless(kNrMail);
      return true;
    case 'R':
      reply_unless(kNrRcpt);
      return true;
    case 'T':
      reply_unless(kNrData);
      return true;
    case 'U':
      reply_unless(kNrUnknown);
      return true;
    case 'L':
      reply_unless(kNrHeader);
      return true;
    case 'N':
      reply_unless(kNrEoh);
      return true;
    case 'B':
      reply_unless(kNrBody);
      return true;
    case 'E':
      Packet(c.out, 'c');
      return true;  // end of message: always answered
    case 'D':       // macros, abort, new message: no reply
    case 'A':
    case 'K':
      return true;
    case 'Q':
      return false;
    default:
      return false;
  }
}

void SetOpt(int fd, int level, int name) {
  int one = 1;
  ::setsockopt(fd, level, name, &one, sizeof one);
}

bool Flush(Conn& c) {
  while (!c.out.empty()) {
    const ssize_t w = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (w < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
    c.out.erase(0, static_cast<size_t>(w));
  }
  return true;
}

// Reads what is there, handles every whole packet, replies. False: close.
bool OnReadable(Conn& c) {
  char buf[16384];
  for (;;) {
    const ssize_t r = ::recv(c.fd, buf, sizeof buf, 0);
    if (r == 0) return false;
    if (r < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return false;
    }
    c.in.append(buf, static_cast<size_t>(r));
    if (static_cast<size_t>(r) < sizeof buf) break;
  }
  size_t at = 0;
  bool ok = true;
  while (ok && c.in.size() - at >= 4) {
    const uint32_t len = GetU32(c.in.data() + at);
    if (len == 0 || len > kMaxPacket) return false;
    if (c.in.size() - at - 4 < len) break;
    ok = Handle(c, c.in[at + 4], c.in.data() + at + 5, len - 1);
    at += 4 + len;
  }
  c.in.erase(0, at);
  const bool replied = !c.out.empty();
  if (!Flush(c)) return false;
  if (ok && !replied && c.tcp) SetOpt(c.fd, IPPROTO_TCP, TCP_QUICKACK);
  return ok;
}

int Listen(const std::string& spec, std::string* bound, bool* tcp) {
  if (spec.rfind("unix:", 0) == 0) {
    const std::string path = spec.substr(5);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.size() >= sizeof sa.sun_path) return -1;
    std::strcpy(sa.sun_path, path.c_str());
    ::unlink(path.c_str());
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(fd, 512) != 0)
      return -1;
    ::chmod(path.c_str(), 0666);  // Postfix's cleanup/smtpd connect as postfix
    *bound = "unix:" + path;
    *tcp = false;
    return fd;
  }
  std::string hp = spec.rfind("inet:", 0) == 0 ? spec.substr(5) : spec;
  const auto colon = hp.rfind(':');
  if (colon == std::string::npos) return -1;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  SetOpt(fd, SOL_SOCKET, SO_REUSEADDR);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(std::stoi(hp.substr(colon + 1))));
  if (::inet_pton(AF_INET, hp.substr(0, colon).c_str(), &sa.sin_addr) != 1) return -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(fd, 512) != 0)
    return -1;
  socklen_t len = sizeof sa;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  *bound = hp.substr(0, colon) + ":" + std::to_string(ntohs(sa.sin_port));
  *tcp = true;
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "inet:127.0.0.1:0", ready_file;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--listen")
      listen = argv[i + 1];
    else if (flag == "--ready-file")
      ready_file = argv[i + 1];
    else {
      std::fprintf(stderr, "usage: %s --listen inet:HOST:PORT|unix:PATH [--ready-file F]\n",
                   argv[0]);
      return 2;
    }
  }
  ::signal(SIGPIPE, SIG_IGN);
  std::string bound;
  bool tcp = true;
  const int lfd = Listen(listen, &bound, &tcp);
  if (lfd < 0) {
    std::fprintf(stderr, "bench_null_milter: cannot listen on %s: %s\n", listen.c_str(),
                 std::strerror(errno));
    return 1;
  }
  if (!ready_file.empty()) {
    const std::string tmp = ready_file + ".tmp";
    std::ofstream(tmp) << bound << "\n";
    std::rename(tmp.c_str(), ready_file.c_str());
  }
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = lfd;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  std::unordered_map<int, Conn> conns;
  epoll_event events[64];
  for (;;) {
    const int n = ::epoll_wait(ep, events, 64, -1);
    if (n < 0 && errno == EINTR) continue;
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == lfd) {
        for (;;) {
          const int cfd = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (cfd < 0) break;
          if (tcp) SetOpt(cfd, IPPROTO_TCP, TCP_NODELAY);
          conns.emplace(cfd, Conn{cfd, tcp, 0, {}, {}});
          epoll_event cev{};
          cev.events = EPOLLIN | EPOLLRDHUP;
          cev.data.fd = cfd;
          ::epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &cev);
        }
        continue;
      }
      auto it = conns.find(fd);
      if (it == conns.end()) continue;
      Conn& c = it->second;
      bool keep = true;
      if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) keep = OnReadable(c);
      if (keep && (events[i].events & EPOLLOUT)) keep = Flush(c);
      if (keep) {
        // Wait for writability only while a reply is stuck (the MTA is not reading).
        epoll_event cev{};
        cev.events = EPOLLIN | EPOLLRDHUP | (c.out.empty() ? 0u : static_cast<uint32_t>(EPOLLOUT));
        cev.data.fd = fd;
        if (!c.out.empty() || (events[i].events & EPOLLOUT))
          ::epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
      } else {
        ::epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
        ::close(fd);
        conns.erase(it);
      }
    }
  }
}
