#include "stack.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "smtpbridge/v1/names.h"

namespace smtpbridge::integration {
namespace {

constexpr auto kStartTimeout = std::chrono::seconds(20);

std::filesystem::path FromEnvOr(const char* var, const char* built) {
  if (const char* path = std::getenv(var); path != nullptr && *path != '\0') return path;
  return built;
}

Server Start(const testing::TempDir& dir, const std::string& name, std::vector<std::string> argv) {
  return testing::StartReady(dir.path(), name, std::move(argv), kStartTimeout);
}

std::string Quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::filesystem::path DispatcherBinary() {
  return FromEnvOr("SMTPBRIDGE_DISPATCHER_BIN", SMTPBRIDGE_DISPATCHER_BIN_DEFAULT);
}

std::filesystem::path ExampleWorkerBinary() {
  return FromEnvOr("SMTPBRIDGE_EXAMPLE_WORKER_BIN", SMTPBRIDGE_EXAMPLE_WORKER_BIN_DEFAULT);
}

std::filesystem::path PolicydBinary() {
  return FromEnvOr("SMTPBRIDGE_POLICYD_BIN", SMTPBRIDGE_POLICYD_BIN_DEFAULT);
}

Server StartExampleWorker(const testing::TempDir& dir, const std::string& name,
                          std::vector<std::string> args) {
  std::vector<std::string> argv{ExampleWorkerBinary().string(), "--listen", "127.0.0.1:0", "--name",
                                name};
  if (std::find(args.begin(), args.end(), "--log-level") == args.end()) {
    argv.insert(argv.end(), {"--log-level", "warn"});
  }
  // A hanging worker must not hold a test's teardown for the default 10 s drain.
  if (std::find(args.begin(), args.end(), "--drain-timeout") == args.end()) {
    argv.insert(argv.end(), {"--drain-timeout", "2s"});
  }
  argv.insert(argv.end(), args.begin(), args.end());
  return Start(dir, name, std::move(argv));
}

Server StartDispatcher(const testing::TempDir& dir, const std::filesystem::path& bindings,
                       const std::string& name, const std::string& listen) {
  std::vector<std::string> argv{DispatcherBinary().string(),
                                "--listen",
                                listen,
                                "--bindings",
                                bindings.string(),
                                "--log-level",
                                "warn",
                                "--drain-timeout",
                                "500ms"};
  // The worker hop's transport (stream by default); ctest runs some suites again with unary.
  if (const char* transport = std::getenv("SMTPBRIDGE_TEST_WORKER_TRANSPORT");
      transport && *transport) {
    argv.insert(argv.end(), {"--worker-transport", transport});
  }
  return Start(dir, name, std::move(argv));
}

std::string BindingsYaml(const std::vector<BindingSpec>& bindings) {
  std::string y = "bindings:\n";
  for (const auto& b : bindings) {
    y += "  - name: " + Quoted(b.name) + "\n";
    y += "    instance: 1\n";
    y += "    event: " + b.event + "\n";
    y += "    rule: " + Quoted(b.rule) + "\n";
    y += "    priority: " + std::to_string(b.priority) + "\n";
    y += "    sink: " + Quoted("ipv4:" + b.sink) + "\n";
    y += "    timeout: " + b.timeout + "\n";
    y += "    on_error: " + b.on_error + "\n";
    y += "    mode: " + b.mode + "\n";
    y += "    enabled: true\n";
    if (!b.properties.empty()) {
      y += "    sink_properties:\n";
      for (const auto& [k, v] : b.properties) y += "      " + k + ": " + Quoted(v) + "\n";
    }
  }
  return y;
}

void WriteAtomically(const std::filesystem::path& path, const std::string& content) {
  const auto tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << content;
  }
  std::filesystem::rename(tmp, path);
}

v1::Event RcptEvent(const std::string& recipient, std::chrono::milliseconds budget) {
  static std::atomic<uint64_t> next_id{1};
  v1::Event e;
  e.set_event_id("it-" + std::to_string(next_id.fetch_add(1)));
  e.set_type(v1::EVENT_TYPE_INBOUND_COMMAND);
  auto* s = e.mutable_session();
  s->set_session_id("session-1");
  s->set_instance(1);
  s->set_host_kind(v1::HOST_KIND_TEST);
  s->mutable_client()->set_address("127.0.0.1");
  s->set_helo_name("client.example");
  e.mutable_envelope()->set_sender("sender@example.com");
  e.mutable_envelope()->set_has_sender(true);
  e.mutable_envelope()->set_recipient(recipient);
  e.mutable_command()->set_keyword("RCPT");
  e.mutable_command()->set_argument("TO:<" + recipient + ">");
  e.mutable_command()->set_line("RCPT TO:<" + recipient + ">");
  e.mutable_response()->set_code(250);
  e.mutable_response()->set_enhanced_code("2.1.5");
  e.mutable_response()->add_lines("Ok");
  *e.mutable_budget() = v1::ToProtoDuration(budget);
  return e;
}

std::unique_ptr<v1::Dispatcher::Stub> DispatcherStub(const std::string& address) {
  return v1::Dispatcher::NewStub(
      grpc::CreateChannel("ipv4:" + address, grpc::InsecureChannelCredentials()));
}

}  // namespace smtpbridge::integration

#include <future>
#include <mutex>

namespace smtpbridge::integration {

sink::SinkOptions TestSinkOptions(const std::string& dispatcher_address) {
  sink::SinkOptions o;
  o.dispatcher_target = "ipv4:" + dispatcher_address;
  o.host_name = "integration-test";
  o.interests.enabled = false;
  return o;
}

std::optional<sink::Evaluation> EvaluateAndWait(sink::Sink& sink, v1::Event event,
                                                std::chrono::milliseconds budget) {
  auto promise = std::make_shared<std::promise<sink::Evaluation>>();
  auto future = promise->get_future();
  sink.Evaluate(std::move(event), budget,
                [promise](sink::Evaluation e) { promise->set_value(std::move(e)); });
  // Generous: the sink answers within the budget; this only keeps a broken sink from hanging
  // the test.
  if (future.wait_for(budget + std::chrono::seconds(10)) != std::future_status::ready) {
    return std::nullopt;
  }
  return future.get();
}

namespace {

struct SharedWorkers {
  std::mutex mu;
  testing::TempDir dir;
  std::map<std::string, Server> servers;

  const Server& Get(const std::string& name, std::vector<std::string> args) {
    std::lock_guard lock(mu);
    auto it = servers.find(name);
    if (it == servers.end()) {
      it = servers.emplace(name, StartExampleWorker(dir, name, std::move(args))).first;
    }
    return it->second;
  }
};

SharedWorkers& Shared() {
  static SharedWorkers workers;  // its Process destructors stop the workers at exit
  return workers;
}

}  // namespace

const Server& Workers::Fast() { return Shared().Get("fast", {"--reject-rcpt", "blocked@*"}); }
const Server& Workers::Slow() {
  return Shared().Get("slow", {"--reject-rcpt", "blocked@*", "--delay", "50ms"});
}
const Server& Workers::Hanging() { return Shared().Get("hanging", {"--hang"}); }
const Server& Workers::Failing() { return Shared().Get("failing", {"--fail-rate", "1"}); }

std::string PolicyRequest(int port, const std::string& recipient) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{20, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return "";
  }
  const std::string request =
      "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
      "client_address=192.0.2.1\nclient_name=client.example\nhelo_name=client.example\n"
      "sender=alice@example.org\nrecipient=" +
      recipient + "\ninstance=1a2b.3c\n\n";
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string answer;
  char buf[512];
  while (answer.find("\n\n") == std::string::npos) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    answer.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  const auto start = answer.find("action=");
  return start == std::string::npos ? "" : answer.substr(start, answer.find('\n', start) - start);
}

}  // namespace smtpbridge::integration
