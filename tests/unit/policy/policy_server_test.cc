// The policy server over a real loopback socket with a fake sink.
#include "policy/policy_server.h"

#include <gtest/gtest.h>
#include <prometheus/metric_family.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <thread>

#include "support/temp_dir.h"
#include "support/wedged_peer.h"
#include "unit/milter/fake_sink.h"

namespace smtpbridge::policy {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using testing::FakeSink;
using testing::MakeVerdict;

// How the server's I/O runs: strands on one io_context run by two threads, or host::IoPool
// with two threads (what smtpbridge-policyd runs).
enum class Threading { kStrandsOnSharedContext, kIoPool };

class PolicyServerTest : public ::testing::TestWithParam<Threading> {
 protected:
  void SetUp() override {
    sink_.answer_on_thread = true;
    sink_.decide = [](const v1::Event& e) {
      if (e.envelope().recipient() == "blocked@example.net")
        return MakeVerdict(v1::ACTION_REJECT, 554, "5.7.1", {"blocked by policy"});
      return v1::Verdict();
    };
    if (GetParam() == Threading::kIoPool) {
      pool_ = std::make_unique<host::IoPool>(2);
      server_ = std::make_unique<PolicyServer>(pool_->main(), pool_->connections(), sink_,
                                               PolicyServerOptions{});
    } else {
      server_ = std::make_unique<PolicyServer>(io_, sink_, PolicyServerOptions{});
    }
    bound_ = server_->Listen(host::ListenAddress{false, "127.0.0.1", 0, ""});
    if (pool_) {
      threads_.emplace_back([this] { pool_->Run(); });
    } else {
      for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io_.run(); });
    }
  }
  void TearDown() override {
    server_->StopAccepting();
    if (pool_) pool_->Stop();
    io_.stop();
    for (auto& t : threads_) t.join();
  }
  tcp::socket Connect() {
    tcp::socket s(client_io_);
    auto colon = bound_.rfind(':');
    s.connect(tcp::endpoint(asio::ip::make_address(bound_.substr(0, colon)),
                            static_cast<uint16_t>(std::stoi(bound_.substr(colon + 1)))));
    return s;
  }
  static std::string Ask(tcp::socket& s, asio::streambuf& buf, const std::string& request) {
    asio::write(s, asio::buffer(request));
    boost::system::error_code ec;
    std::size_t n = asio::read_until(s, buf, "\n\n", ec);
    if (ec) return "<" + ec.message() + ">";
    std::string out(asio::buffers_begin(buf.data()), asio::buffers_begin(buf.data()) + n);
    buf.consume(n);
    return out;
  }
  static std::string Rcpt(const std::string& rcpt, const std::string& port = "40000") {
    return "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.1\nclient_"
           "port=" +
           port + "\nsender=a@example.com\nrecipient=" + rcpt + "\n\n";
  }

  asio::io_context io_, client_io_;
  std::unique_ptr<host::IoPool> pool_;
  FakeSink sink_;
  std::unique_ptr<PolicyServer> server_;
  std::string bound_;
  std::vector<std::thread> threads_;
};

INSTANTIATE_TEST_SUITE_P(Threading, PolicyServerTest,
                         ::testing::Values(Threading::kStrandsOnSharedContext, Threading::kIoPool),
                         [](const auto& info) {
                           return info.param == Threading::kIoPool ? "IoPool"
                                                                   : "StrandsOnSharedContext";
                         });

TEST_P(PolicyServerTest, PersistentConnectionAnswersEachRequest) {
  auto s = Connect();
  asio::streambuf buf;
  EXPECT_EQ(Ask(s, buf, Rcpt("ok@example.net")), "action=DUNNO\n\n");
  EXPECT_EQ(Ask(s, buf, Rcpt("blocked@example.net")), "action=554 5.7.1 blocked by policy\n\n");
  EXPECT_EQ(Ask(s, buf, Rcpt("ok2@example.net", "40001")), "action=DUNNO\n\n");
  auto events = sink_.events();
  ASSERT_EQ(events.size(), 3u);
  // Same client endpoint: same session; another port: another session.
  EXPECT_EQ(events[0].session().session_id(), events[1].session().session_id());
  EXPECT_NE(events[0].session().session_id(), events[2].session().session_id());
  EXPECT_NE(events[0].event_id(), events[1].event_id());
  EXPECT_EQ(sink_.budgets()[0], std::chrono::milliseconds(100));
}

TEST_P(PolicyServerTest, UnwantedEventsAnswerDunnoWithoutTheSink) {
  sink_.wanted = {"INBOUND_COMMAND:MAIL"};
  auto s = Connect();
  asio::streambuf buf;
  EXPECT_EQ(Ask(s, buf, Rcpt("blocked@example.net")), "action=DUNNO\n\n");
  EXPECT_TRUE(sink_.events().empty());
}

TEST_P(PolicyServerTest, MalformedRequestClosesTheConnection) {
  auto s = Connect();
  asio::streambuf buf;
  EXPECT_EQ(Ask(s, buf, "this is not a policy request\n\n").substr(0, 1), "<");
  EXPECT_EQ(server_->stats().protocol_errors.load(), 1u);
  // The server is still there for others.
  auto again = Connect();
  asio::streambuf buf2;
  EXPECT_EQ(Ask(again, buf2, Rcpt("ok@example.net")), "action=DUNNO\n\n");
}

TEST_P(PolicyServerTest, OversizedLineClosesTheConnection) {
  auto s = Connect();
  asio::streambuf buf;
  EXPECT_EQ(Ask(s, buf, "sender=" + std::string(20000, 'x')).substr(0, 1), "<");
}

TEST_P(PolicyServerTest, UnknownRequestKindIsDunno) {
  auto s = Connect();
  asio::streambuf buf;
  EXPECT_EQ(Ask(s, buf, "request=something_else\n\n"), "action=DUNNO\n\n");
  EXPECT_TRUE(sink_.events().empty());
}

// A client that keeps sending requests but reads no answer (a wedged MTA) fills the socket
// buffers; the answer that cannot be written has a deadline (write_timeout), so the connection is

// A counter's value as the metrics endpoint would serve it (-1 when absent).
double MetricValue(const prometheus::Collectable& metrics, const std::string& name) {
  for (const auto& family : metrics.Collect())
    if (family.name == name && !family.metric.empty()) return family.metric.front().counter.value;
  return -1;
}

// closed and counted instead of pinned forever, and other clients are still served.
TEST(PolicyServerWrite, ClientThatStopsReadingIsClosedAfterTheWriteTimeout) {
  asio::io_context io, client_io;
  FakeSink sink;
  PolicyServerOptions options;
  options.idle_timeout = std::chrono::seconds(60);  // so only the write deadline can close it
  options.write_timeout = std::chrono::milliseconds(300);
  PolicyServer server(io, sink, options);
  // A unix socket: the wedge is exact there; over loopback TCP it crawls on for seconds as the
  // kernel collapses the peer's receive queue and retransmits (support/wedged_peer.h).
  smtpbridge::testing::TempDir dir;
  const std::string path = (dir / "policy.sock").string();
  server.Listen(host::ListenAddress{true, "", 0, path});
  std::thread thread([&io] { io.run(); });
  using Unix = asio::local::stream_protocol;
  const Unix::endpoint endpoint(path);

  Unix::socket wedged(client_io);
  wedged.connect(endpoint);
  // A request kind the host answers DUNNO at once, without the sink.
  std::thread sender = smtpbridge::testing::SendWithoutReading(wedged, "request=other\n\n");

  Unix::socket other(client_io);  // served while the wedged one waits
  other.connect(endpoint);
  asio::streambuf buf;
  asio::write(other, asio::buffer(std::string("request=other\n\n")));
  const std::size_t n = asio::read_until(other, buf, "\n\n");
  EXPECT_EQ(std::string(asio::buffers_begin(buf.data()), asio::buffers_begin(buf.data()) + n),
            "action=DUNNO\n\n");
  buf.consume(n);
  other.close();

  for (int i = 0; i < 1000 && server.stats().active_connections.load() != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(server.stats().active_connections.load(), 0u) << "the wedged connection is still open";
  smtpbridge::testing::StopSending(wedged, sender);
  EXPECT_EQ(server.stats().write_timeouts.load(), 1u);
  EXPECT_EQ(server.stats().idle_timeouts.load(), 0u);
  EXPECT_EQ(MetricValue(*server.Metrics(), "smtpbridge_policy_write_timeouts_total"),
            1.0);                 // on /metrics
  Unix::socket after(client_io);  // and serves the next one
  after.connect(endpoint);
  asio::write(after, asio::buffer(std::string("request=other\n\n")));
  boost::system::error_code ec;
  EXPECT_EQ(asio::read_until(after, buf, "\n\n", ec), n) << ec.message();

  server.StopAccepting();
  io.stop();
  thread.join();
}

}  // namespace
}  // namespace smtpbridge::policy
