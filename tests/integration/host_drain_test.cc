// A host stopped with SIGTERM while an event is in flight answers it with the dispatcher's
// verdict, not its fallback: it drains (host::SignalDrain) instead of shutting the sink at once.
// Driven through smtpbridge-policyd, the simplest protocol; the milter and the proxy share the
// same drain.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <csignal>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "stack.h"
#include "support/process.h"
#include "support/temp_dir.h"
#include "unit/sink/test_dispatcher.h"

namespace smtpbridge::integration {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;
using smtpbridge::testing::PortOf;
using smtpbridge::testing::Process;
using smtpbridge::testing::TempDir;

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string PolicyRequest(const std::string& recipient) {
  return "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
         "client_address=127.0.0.1\nclient_port=40000\nhelo_name=client.example\n"
         "sender=alice@example.org\nrecipient=" +
         recipient + "\n\n";
}

// One request on its own connection; returns the "action=..." line.
std::string Ask(int port, const std::string& recipient) {
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
  asio::write(socket, asio::buffer(PolicyRequest(recipient)));
  asio::streambuf reply;
  boost::system::error_code ec;
  asio::read_until(socket, reply, "\n\n", ec);
  std::istream in(&reply);
  std::string line;
  std::getline(in, line);
  return line;
}

TEST(HostDrain, PolicyHostAnswersTheEventInFlightFromTheDispatcherOnSigterm) {
  sink::testing::TestDispatcher dispatcher;
  v1::GetInterestsResponse interests;
  auto* interest = interests.add_interests();
  interest->set_instance(1);
  interest->set_event(v1::EVENT_TYPE_INBOUND_COMMAND);
  interest->add_keywords("RCPT");
  interests.set_generation(1);
  dispatcher.SetInterests(interests);

  TempDir dir;
  // The fallback would say 451 (tempfail): telling it apart from the dispatcher's CONTINUE (DUNNO).
  const auto sink_config = dir.Write(
      "sink.yaml", "sink:\n  dispatcher: " + dispatcher.target() + "\n  default: tempfail\n");
  const auto ready = dir / "ready";
  const auto log = dir / "policyd.log";
  Process policyd(
      {PolicydBinary().string(), "--listen", "127.0.0.1:0", "--ready-file", ready.string(),
       "--sink-config", sink_config.string(), "--budget", "20s", "--drain-timeout", "15s"},
      log);
  const auto bound = policyd.WaitForReadyFile(ready);
  ASSERT_TRUE(bound) << ReadFile(log);
  const int port = PortOf(*bound);

  // Until the host has the dispatcher's interests, it answers without asking (bounded).
  for (int i = 0; i < 200 && dispatcher.evaluations() == 0; ++i) {
    Ask(port, "ok@example.com");
    if (dispatcher.evaluations() == 0) std::this_thread::sleep_for(20ms);
  }
  ASSERT_GT(dispatcher.evaluations(), 0) << "policyd never asked the dispatcher";
  const int before = dispatcher.evaluations();

  std::string answer;
  std::thread asker([&] { answer = Ask(port, "late@example.com"); });
  for (int i = 0; i < 500 && dispatcher.evaluations() == before; ++i)
    std::this_thread::sleep_for(10ms);
  ASSERT_EQ(dispatcher.evaluations(), before + 1)
      << "the late request never reached the dispatcher";

  policyd.Signal(SIGTERM);
  for (int i = 0; i < 500 && ReadFile(log).find("draining") == std::string::npos; ++i)
    std::this_thread::sleep_for(10ms);
  ASSERT_NE(ReadFile(log).find("draining"), std::string::npos) << ReadFile(log);
  EXPECT_TRUE(policyd.Running()) << "policyd stopped with an event in flight";

  dispatcher.ReleaseLate();
  asker.join();
  EXPECT_EQ(answer, "action=DUNNO") << "answered from the fallback, not the dispatcher";
  const auto status = policyd.Wait(20s);
  ASSERT_TRUE(status.has_value()) << "policyd did not stop after its drain";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << ReadFile(log);
}

}  // namespace
}  // namespace smtpbridge::integration
