// The admin token: every call that reveals bindings (ListBindings, GetBindingStats, Reload) or
// evaluates a test event (Evaluate / EvaluateStream with explain) needs it; a missing or wrong
// token gets UNAUTHENTICATED; the sink's own Evaluate does not. It comes from a file or the
// environment, never argv (both binaries refuse --admin-token), and is refused in plaintext
// from another host.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "server/admin_auth.h"
#include "server/dispatcher_app.h"
#include "smtpbridge/v1/admin.grpc.pb.h"
#include "smtpbridge/v1/dispatcher.grpc.pb.h"
#include "smtpbridge/v1/names.h"
#include "support/process.h"
#include "support/test_certs.h"

namespace smtpbridge::dispatcher {
namespace {

using smtpbridge::testing::Process;
using ::testing::HasSubstr;

constexpr const char* kToken = "t0ken-for-tests";

std::string Read(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int ExitCode(std::optional<int> status) {
  return status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
}

std::string Binary(const char* name) {
  const char* dir = std::getenv("SMTPBRIDGE_DISPATCHER_BIN_DIR");
  return dir ? std::string(dir) + "/" + name : "";
}

// What a call carries: nothing, a wrong token, the right one.
enum class Credential { kNone, kWrong, kRight };

class AdminTokenTest : public ::testing::TestWithParam<Credential> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(certs_.ok());
    bindings_ = (certs_.dir() / "bindings.yaml").string();
    std::ofstream(bindings_)
        << "bindings:\n  - {name: secret-binding, event: INBOUND_COMMAND, rule: RCPT, "
           "sink: \"ipv4:127.0.0.1:1\", timeout: 50ms}\n";
  }
  void TearDown() override {
    if (app_) app_->Shutdown();
  }
  void Start(AppOptions options = {}) {
    if (options.listen == AppOptions{}.listen) options.listen = "127.0.0.1:0";  // a free port
    options.bindings_path = bindings_;
    options.admin_token = kToken;
    options.watch_interval = std::chrono::milliseconds(0);
    std::vector<std::string> errors;
    app_ = DispatcherApp::Create(options, &errors);
    ASSERT_TRUE(app_) << ::testing::PrintToString(errors);
    std::string error;
    ASSERT_TRUE(app_->Start(&error)) << error;
    channel_ = grpc::CreateChannel(app_->address(), grpc::InsecureChannelCredentials());
  }
  void Prepare(grpc::ClientContext* context, Credential credential) const {
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    if (credential == Credential::kWrong) context->AddMetadata("authorization", "Bearer nope");
    if (credential == Credential::kRight)
      context->AddMetadata("authorization", std::string("Bearer ") + kToken);
  }
  // UNAUTHENTICATED without the right token, OK with it.
  grpc::StatusCode Expected(Credential c) const {
    return c == Credential::kRight ? grpc::StatusCode::OK : grpc::StatusCode::UNAUTHENTICATED;
  }
  static v1::EvaluateRequest TestEvent(bool explain) {
    v1::EvaluateRequest request;
    request.set_explain(explain);
    auto* e = request.mutable_event();
    e->set_event_id("t1");
    e->set_type(v1::EVENT_TYPE_INBOUND_COMMAND);
    e->mutable_session()->set_instance(1);
    e->mutable_command()->set_keyword("RCPT");
    e->mutable_command()->set_argument("TO:<a@example.com>");
    *e->mutable_budget() = v1::ToProtoDuration(std::chrono::seconds(5));
    return request;
  }

  smtpbridge::testing::TestCertificates certs_;
  std::string bindings_;
  std::unique_ptr<DispatcherApp> app_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_P(AdminTokenTest, ListBindings) {
  Start();
  grpc::ClientContext context;
  Prepare(&context, GetParam());
  v1::ListBindingsResponse response;
  EXPECT_EQ(v1::Admin::NewStub(channel_)->ListBindings(&context, {}, &response).error_code(),
            Expected(GetParam()));
  EXPECT_EQ(response.bindings_size(), GetParam() == Credential::kRight ? 1 : 0);
}

TEST_P(AdminTokenTest, GetBindingStats) {
  Start();
  grpc::ClientContext context;
  Prepare(&context, GetParam());
  v1::GetBindingStatsResponse response;
  EXPECT_EQ(v1::Admin::NewStub(channel_)->GetBindingStats(&context, {}, &response).error_code(),
            Expected(GetParam()));
  EXPECT_EQ(response.stats_size(), GetParam() == Credential::kRight ? 1 : 0);
}

TEST_P(AdminTokenTest, Reload) {
  Start();
  grpc::ClientContext context;
  Prepare(&context, GetParam());
  v1::ReloadResponse response;
  EXPECT_EQ(v1::Admin::NewStub(channel_)->Reload(&context, {}, &response).error_code(),
            Expected(GetParam()));
  EXPECT_EQ(app_->store().generation(), GetParam() == Credential::kRight ? 2u : 1u);
}

TEST_P(AdminTokenTest, EvaluateWithExplainIsATestEvent) {
  Start();
  grpc::ClientContext context;
  Prepare(&context, GetParam());
  v1::EvaluateResponse response;
  EXPECT_EQ(v1::Dispatcher::NewStub(channel_)
                ->Evaluate(&context, TestEvent(true), &response)
                .error_code(),
            Expected(GetParam()));
  EXPECT_EQ(response.outcomes_size(), GetParam() == Credential::kRight ? 1 : 0);
}

TEST_P(AdminTokenTest, EvaluateStreamExplainsOnlyWithTheToken) {
  Start();
  grpc::ClientContext context;
  Prepare(&context, GetParam());
  auto stream = v1::Dispatcher::NewStub(channel_)->EvaluateStream(&context);
  v1::EvaluateRequests requests;
  *requests.add_requests() = TestEvent(true);
  requests.mutable_requests(0)->set_stream_id(7);
  ASSERT_TRUE(stream->Write(requests));
  v1::EvaluateResponses responses;
  ASSERT_TRUE(stream->Read(&responses));
  ASSERT_EQ(responses.responses_size(), 1);
  const v1::EvaluateResponse& response = responses.responses(0);
  EXPECT_EQ(response.stream_id(), 7u);
  // The event is answered either way (a sink's stream must not fail); the explanation is not.
  EXPECT_EQ(response.outcomes_size(), GetParam() == Credential::kRight ? 1 : 0);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_P(AdminTokenTest, TheSinksEvaluateNeedsNoToken) {
  Start();
  grpc::ClientContext context;
  Prepare(&context, GetParam());
  v1::EvaluateResponse response;
  EXPECT_TRUE(
      v1::Dispatcher::NewStub(channel_)->Evaluate(&context, TestEvent(false), &response).ok());
}

TEST_P(AdminTokenTest, OverMutualTlsTheTokenIsChecked) {
  AppOptions options;
  options.tls = {.enabled = true,
                 .ca_file = certs_.pem("ca"),
                 .cert_file = certs_.pem("server"),
                 .key_file = certs_.key("server")};
  Start(options);
  tls::TlsOptions client{.enabled = true,
                         .ca_file = certs_.pem("ca"),
                         .cert_file = certs_.pem("client"),
                         .key_file = certs_.key("client")};
  std::string error;
  auto channel = grpc::CreateChannel(app_->address(), tls::MakeChannelCredentials(client, &error));
  grpc::ClientContext context;
  Prepare(&context, GetParam());
  v1::ListBindingsResponse response;
  EXPECT_EQ(v1::Admin::NewStub(channel)->ListBindings(&context, {}, &response).error_code(),
            Expected(GetParam()));
}

INSTANTIATE_TEST_SUITE_P(Credentials, AdminTokenTest,
                         ::testing::Values(Credential::kNone, Credential::kWrong,
                                           Credential::kRight),
                         [](const auto& info) {
                           switch (info.param) {
                             case Credential::kNone:
                               return std::string("NoToken");
                             case Credential::kWrong:
                               return std::string("WrongToken");
                             default:
                               return std::string("RightToken");
                           }
                         });

// A local address that is not loopback, for a plaintext call that does not come from loopback;
// "" when the machine has none.
std::string NonLoopbackAddress() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return "";
  std::string found;
  for (auto* a = list; a && found.empty(); a = a->ifa_next) {
    if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET) continue;
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr, text, sizeof text);
    if (std::string(text).rfind("127.", 0) != 0) found = text;
  }
  freeifaddrs(list);
  return found;
}

TEST_F(AdminTokenTest, TokenInPlaintextFromAnotherHostIsRefused) {
  const std::string local = NonLoopbackAddress();
  if (local.empty()) GTEST_SKIP() << "no non-loopback IPv4 address on this machine";
  AppOptions options;
  options.listen = local + ":0";
  Start(options);
  grpc::ClientContext context;
  Prepare(&context, Credential::kRight);
  v1::ListBindingsResponse response;
  const auto status = v1::Admin::NewStub(channel_)->ListBindings(&context, {}, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(status.error_message(), HasSubstr("refused over plaintext"));
}

TEST(AdminTokenLoad, FromAFileTrimmedOrTheEnvironmentNeverEmpty) {
  smtpbridge::testing::TempDir dir;
  std::string token, error;
  ASSERT_TRUE(LoadAdminToken(dir.Write("token", "  abc123\n").string(), &token, &error)) << error;
  EXPECT_EQ(token, "abc123");
  EXPECT_FALSE(LoadAdminToken(dir.Write("empty", "\n").string(), &token, &error));
  EXPECT_THAT(error, HasSubstr("holds no token"));
  EXPECT_FALSE(LoadAdminToken((dir / "missing").string(), &token, &error));
  EXPECT_THAT(error, HasSubstr("cannot read"));
  ::setenv(kAdminTokenEnv, "from-env", 1);
  ASSERT_TRUE(LoadAdminToken("", &token, &error));
  EXPECT_EQ(token, "from-env");
  ::unsetenv(kAdminTokenEnv);
  ASSERT_TRUE(LoadAdminToken("", &token, &error));
  EXPECT_EQ(token, "");
}

TEST(AdminTokenLoad, LoopbackPeers) {
  EXPECT_TRUE(IsLoopbackPeer("ipv4:127.0.0.1:5000"));
  EXPECT_TRUE(IsLoopbackPeer("ipv6:[::1]:5000"));
  EXPECT_TRUE(IsLoopbackPeer("unix:/run/x.sock"));
  EXPECT_FALSE(IsLoopbackPeer("ipv4:10.0.0.1:5000"));
  EXPECT_FALSE(IsLoopbackPeer("ipv6:[2001:db8::1]:5000"));
}

// Both binaries refuse the token on the command line and say why; bridgectl reads it from the
// environment or a file.
TEST(AdminTokenBinaries, ArgvIsRefusedFileAndEnvironmentWork) {
  const std::string bin = Binary("smtpbridge-dispatcher");
  const std::string ctl = Binary("bridgectl");
  ASSERT_FALSE(bin.empty()) << "SMTPBRIDGE_DISPATCHER_BIN_DIR not set";
  smtpbridge::testing::TempDir dir;
  const auto bindings = dir.Write("bindings.yaml", "bindings: []\n");
  {
    Process p({bin, "--bindings", bindings.string(), "--admin-token", "x"}, dir / "argv.log");
    EXPECT_EQ(ExitCode(p.Wait(std::chrono::seconds(20))), 1);
    EXPECT_THAT(Read(dir / "argv.log"), HasSubstr("visible to every local user"));
  }
  const auto token_file = dir.Write("token", std::string(kToken) + "\n");
  Process dispatcher({bin, "--listen", "127.0.0.1:0", "--bindings", bindings.string(),
                      "--ready-file", (dir / "ready").string(), "--watch-interval", "0",
                      "--admin-token-file", token_file.string()},
                     dir / "dispatcher.log");
  const auto address = dispatcher.WaitForReadyFile(dir / "ready");
  ASSERT_TRUE(address) << Read(dir / "dispatcher.log");
  {
    Process p({ctl, "--dispatcher", *address, "--admin-token", kToken, "status"},
              dir / "ctl-argv.log");
    EXPECT_EQ(ExitCode(p.Wait(std::chrono::seconds(20))), 2);
    EXPECT_THAT(Read(dir / "ctl-argv.log"), HasSubstr("--admin-token-file"));
  }
  {
    Process p({ctl, "--dispatcher", *address, "status"}, dir / "ctl-none.log",
              {{kAdminTokenEnv, ""}});
    EXPECT_EQ(ExitCode(p.Wait(std::chrono::seconds(20))), 1);
    EXPECT_THAT(Read(dir / "ctl-none.log"), HasSubstr("admin token"));
  }
  {
    Process p({ctl, "--dispatcher", *address, "status"}, dir / "ctl-env.log",
              {{kAdminTokenEnv, kToken}});
    EXPECT_EQ(ExitCode(p.Wait(std::chrono::seconds(20))), 0) << Read(dir / "ctl-env.log");
  }
  {
    Process p({ctl, "--dispatcher", *address, "--admin-token-file", token_file.string(),
               "test-event", "--command", "RCPT TO:<a@example.com>"},
              dir / "ctl-file.log", {{kAdminTokenEnv, ""}});
    EXPECT_EQ(ExitCode(p.Wait(std::chrono::seconds(20))), 0) << Read(dir / "ctl-file.log");
  }
  EXPECT_EQ(ExitCode(dispatcher.Stop()), 0);
}

}  // namespace
}  // namespace smtpbridge::dispatcher
