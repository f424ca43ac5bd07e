// Every hop in mutual TLS with the real binaries: smtpbridge-policyd (the sink, a client
// certificate from its sink config) → smtpbridge-dispatcher (--tls-*, --worker-tls-*, a decision
// log, the admin token from the environment) → smtpbridge-example-worker (--tls-*). One Postfix
// policy request is answered by the worker; the decision log line carries the request's trace id;
// bridgectl status needs both the token and a client certificate.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "stack.h"
#include "support/test_certs.h"

namespace smtpbridge::integration {
namespace {

using ::testing::HasSubstr;

std::string Read(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Starts `argv` with --ready-file and waits for it; the process's log goes to dir/NAME.log.
std::pair<std::unique_ptr<testing::Process>, std::string> StartProcess(
    const testing::TempDir& dir, const std::string& name, std::vector<std::string> argv,
    std::map<std::string, std::string> env = {}) {
  argv.insert(argv.end(), {"--ready-file", (dir / (name + ".ready")).string()});
  auto p = std::make_unique<testing::Process>(argv, dir / (name + ".log"), env);
  auto address = p->WaitForReadyFile(dir / (name + ".ready"));
  EXPECT_TRUE(address) << name << " did not start:\n" << Read(dir / (name + ".log"));
  return {std::move(p), address.value_or("")};
}

TEST(Security, MutualTlsOnEveryHopWithDecisionLogAndAdminToken) {
  testing::TempDir dir;
  testing::TestCertificates certs;
  ASSERT_TRUE(certs.ok()) << "the openssl command failed";

  auto [worker, worker_address] =
      StartProcess(dir, "worker",
                   {ExampleWorkerBinary().string(), "--listen", "127.0.0.1:0", "--log-level",
                    "warn", "--reject-rcpt", "blocked@*", "--tls-cert", certs.pem("server"),
                    "--tls-key", certs.key("server"), "--tls-client-ca", certs.pem("ca")});
  ASSERT_FALSE(worker_address.empty());

  const auto bindings =
      dir.Write("bindings.yaml", BindingsYaml({{.name = "rcpt", .sink = worker_address}}));
  const auto decisions = dir / "decisions.log";
  auto [dispatcher, dispatcher_address] =
      StartProcess(dir, "dispatcher",
                   {DispatcherBinary().string(),
                    "--listen",
                    "127.0.0.1:0",
                    "--bindings",
                    bindings.string(),
                    "--log-level",
                    "warn",
                    "--tls-cert",
                    certs.pem("server"),
                    "--tls-key",
                    certs.key("server"),
                    "--tls-client-ca",
                    certs.pem("ca"),
                    "--worker-tls-ca",
                    certs.pem("ca"),
                    "--worker-tls-cert",
                    certs.pem("client"),
                    "--worker-tls-key",
                    certs.key("client"),
                    "--decision-log",
                    decisions.string()},
                   {{"SMTPBRIDGE_ADMIN_TOKEN", "integration-token"}});
  ASSERT_FALSE(dispatcher_address.empty());

  const auto sink_config =
      dir.Write("sink.yaml", "sink:\n  dispatcher: \"ipv4:" + dispatcher_address +
                                 "\"\n  tls:\n    ca_file: " + certs.pem("ca") +
                                 "\n    cert_file: " + certs.pem("client") +
                                 "\n    key_file: " + certs.key("client") +
                                 "\n  fallback_log: " + (dir / "fallbacks.log").string() + "\n");
  auto [policyd, policyd_address] =
      StartProcess(dir, "policyd",
                   {PolicydBinary().string(), "--listen", "127.0.0.1:0", "--sink-config",
                    sink_config.string(), "--budget", "5s", "--log-level", "warn"});
  ASSERT_FALSE(policyd_address.empty());

  // Answered by the worker through both TLS hops (a fallback would say DUNNO).
  EXPECT_THAT(PolicyRequest(testing::PortOf(policyd_address), "blocked@example.com"),
              HasSubstr("action=5"));
  EXPECT_EQ(Read(dir / "fallbacks.log"), "");
  std::ifstream in(decisions);
  std::string line;
  ASSERT_TRUE(std::getline(in, line)) << "no decision line";
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["verdict"]["action"], "reject");
  EXPECT_EQ(j["bindings"][0]["outcome"], "answered");
  EXPECT_EQ(j["trace_id"].get<std::string>().size(), 32u);

  // bridgectl: the token (from the environment) and a client certificate.
  const std::string ctl = (DispatcherBinary().parent_path() / "bridgectl").string();
  auto run = [&](std::vector<std::string> argv, std::map<std::string, std::string> env,
                 const std::string& log) {
    testing::Process p(std::move(argv), dir / log, env);
    const auto status = p.Wait(std::chrono::seconds(20));
    return status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
  };
  const std::vector<std::string> tls_flags = {
      "--tls-ca",  certs.pem("ca"),     "--tls-cert",        certs.pem("client"),
      "--tls-key", certs.key("client"), "--tls-server-name", "localhost"};
  std::vector<std::string> status = {ctl, "--dispatcher", "ipv4:" + dispatcher_address};
  status.insert(status.end(), tls_flags.begin(), tls_flags.end());
  status.push_back("status");
  EXPECT_EQ(run(status, {{"SMTPBRIDGE_ADMIN_TOKEN", "integration-token"}}, "ctl-ok.log"), 0)
      << Read(dir / "ctl-ok.log");
  EXPECT_THAT(Read(dir / "ctl-ok.log"), HasSubstr("rcpt"));
  EXPECT_EQ(run(status, {{"SMTPBRIDGE_ADMIN_TOKEN", "wrong"}}, "ctl-wrong.log"), 1);
  EXPECT_EQ(run({ctl, "--dispatcher", "ipv4:" + dispatcher_address, "status"},
                {{"SMTPBRIDGE_ADMIN_TOKEN", "integration-token"}}, "ctl-plain.log"),
            1);  // plaintext to a mutual-TLS dispatcher: refused at the handshake
}

}  // namespace
}  // namespace smtpbridge::integration
