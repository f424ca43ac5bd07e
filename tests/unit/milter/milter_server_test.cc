// The server over real loopback sockets (TCP and unix) with a fake sink: replies come back,
// bad packets close only their own connection, many MTA connections at once.
#include "milter/milter_server.h"

#include <gtest/gtest.h>
#include <prometheus/metric_family.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <thread>

#include "support/temp_dir.h"
#include "support/wedged_peer.h"
#include "unit/milter/fake_sink.h"

namespace smtpbridge::milter {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using testing::FakeSink;
using testing::MakeVerdict;
using namespace std::string_literals;
using host::ListenAddress;
using host::ParseListenAddress;
using host::ParseSocketMode;
using host::ParseSocketOwner;

// How the server's I/O runs: strands on one io_context run by two threads (the tests' own
// setup), or host::IoPool with two threads (what smtpbridge-milter runs).
enum class Threading { kStrandsOnSharedContext, kIoPool };

class ServerFixture : public ::testing::TestWithParam<Threading> {
 protected:
  void SetUp() override {
    sink_.answer_on_thread = true;  // like the real sink: verdicts arrive on another thread
    sink_.decide = [](const v1::Event& e) {
      if (e.envelope().recipient() == "blocked@example.net")
        return MakeVerdict(v1::ACTION_REJECT, 550, "5.7.1", {"blocked"});
      return v1::Verdict();
    };
    if (GetParam() == Threading::kIoPool) {
      pool_ = std::make_unique<host::IoPool>(2);
      server_ = std::make_unique<MilterServer>(pool_->main(), pool_->connections(), sink_,
                                               ServerOptions{});
    } else {
      server_ = std::make_unique<MilterServer>(io_, sink_, ServerOptions{});
    }
  }
  void Start() {
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
    server_.reset();
  }

  asio::io_context io_;
  std::unique_ptr<host::IoPool> pool_;
  FakeSink sink_;
  std::unique_ptr<MilterServer> server_;
  std::vector<std::thread> threads_;
};

INSTANTIATE_TEST_SUITE_P(Threading, ServerFixture,
                         ::testing::Values(Threading::kStrandsOnSharedContext, Threading::kIoPool),
                         [](const auto& info) {
                           return info.param == Threading::kIoPool ? "IoPool"
                                                                   : "StrandsOnSharedContext";
                         });

// A blocking fake MTA.
template <typename Socket>
class Mta {
 public:
  explicit Mta(Socket socket) : socket_(std::move(socket)) {}
  void Send(const Command& c) { asio::write(socket_, asio::buffer(Frame(EncodeCommandPacket(c)))); }
  void SendRaw(const std::string& bytes) { asio::write(socket_, asio::buffer(bytes)); }
  Reply Read() {
    char len[4];
    asio::read(socket_, asio::buffer(len, 4));
    uint32_t n = (uint32_t(uint8_t(len[0])) << 24) | (uint32_t(uint8_t(len[1])) << 16) |
                 (uint32_t(uint8_t(len[2])) << 8) | uint8_t(len[3]);
    std::string body(n, '\0');
    asio::read(socket_, asio::buffer(body));
    Packet p{body[0], body.substr(1)};
    std::string error;
    auto r = DecodeReply(p, &error);
    EXPECT_TRUE(r) << error;
    return r.value_or(SimpleReply{'?'});
  }
  // True when the server closed the connection.
  bool Closed() {
    char c;
    boost::system::error_code ec;
    asio::read(socket_, asio::buffer(&c, 1), ec);
    return ec == asio::error::eof || ec == asio::error::connection_reset;
  }

 private:
  Socket socket_;
};

Mta<tcp::socket> ConnectTcp(const std::string& bound) {
  static asio::io_context client_io;
  auto colon = bound.rfind(':');
  tcp::socket s(client_io);
  s.connect(tcp::endpoint(asio::ip::make_address(bound.substr(0, colon)),
                          static_cast<uint16_t>(std::stoi(bound.substr(colon + 1)))));
  return Mta<tcp::socket>(std::move(s));
}

const OptNeg kOffer{6, 0x1ff, 0x1fffff};

TEST_P(ServerFixture, TransactionOverTcp) {
  sink_.wanted = {"INBOUND_COMMAND:RCPT", "INBOUND_COMMAND:_EOD"};
  sink_.decide = [](const v1::Event& e) {
    v1::Verdict v;
    if (e.envelope().recipient() == "blocked@example.net")
      return MakeVerdict(v1::ACTION_REJECT, 550, "5.7.1", {"blocked"});
    if (e.command().keyword() == "_EOD") {
      auto* h = v.add_edits()->mutable_add_header();
      h->set_name("X-Policy");
      h->set_value("checked");
    }
    return v;
  };
  const std::string bound = server_->Listen(ListenAddress{false, "127.0.0.1", 0, ""});
  Start();
  auto mta = ConnectTcp(bound);
  mta.Send(kOffer);
  auto neg = std::get<OptNegReply>(mta.Read());
  EXPECT_TRUE(neg.protocol & step::kNoReplyConnect);
  EXPECT_TRUE(neg.protocol & step::kNoReplyHeader);
  mta.Send(ConnectInfo{"c.example", '4', 1234, "192.0.2.1"});  // no reply expected
  mta.Send(Helo{"c.example"});
  mta.Send(MailFrom{{"<a@example.com>"}});
  mta.Send(RcptTo{{"<blocked@example.net>"}});
  EXPECT_EQ(mta.Read(), Reply(ReplyCode{"550 5.7.1 blocked"}));
  mta.Send(RcptTo{{"<ok@example.net>"}});
  EXPECT_EQ(mta.Read(), Reply(SimpleReply{'c'}));
  mta.Send(HeaderField{"Subject", "x"});
  mta.Send(EndOfMessage{});
  EXPECT_EQ(mta.Read(), Reply(AddHeaderReply{"X-Policy", "checked"}));
  EXPECT_EQ(mta.Read(), Reply(SimpleReply{'c'}));
  mta.Send(Quit{});
  EXPECT_TRUE(mta.Closed());
  EXPECT_EQ(sink_.events().size(), 3u);
}

// #14: --socket-mode / --socket-owner: the MTA's smtpd must be able to connect to the socket.
TEST(SocketPermissions, ModeAndGroupApplyToTheBoundSocket) {
  std::string error;
  EXPECT_EQ(ParseSocketMode("0660", &error), 0660u);
  EXPECT_EQ(ParseSocketMode("600", &error), 0600u);
  EXPECT_FALSE(ParseSocketMode("0999", &error));
  EXPECT_FALSE(ParseSocketMode("rw", &error));
  ListenAddress parsed;
  ParseSocketOwner("postfix:mail", &parsed);
  EXPECT_EQ(parsed.owner, "postfix");
  EXPECT_EQ(parsed.group, "mail");
  ParseSocketOwner(":mail", &parsed);
  EXPECT_EQ(parsed.owner, "");
  EXPECT_EQ(parsed.group, "mail");

  smtpbridge::testing::TempDir dir;
  FakeSink sink;
  asio::io_context io;
  MilterServer server(io, sink, ServerOptions{});
  ListenAddress address{true, "", 0, (dir / "m.sock").string()};
  address.mode = 0660;
  address.group = std::to_string(::getgid());  // a group we may chown to without privileges
  server.Listen(address);
  struct stat st {};
  ASSERT_EQ(::stat(address.path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  EXPECT_EQ(st.st_gid, ::getgid());

  ListenAddress unknown{true, "", 0, (dir / "n.sock").string()};
  unknown.group = "no-such-group-smtpbridge";
  try {
    server.Listen(unknown);
    ADD_FAILURE() << "an unknown group must fail";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("no such group"), std::string::npos) << e.what();
  }
  server.StopAccepting();
}

TEST_P(ServerFixture, TransactionOverUnixSocket) {
  smtpbridge::testing::TempDir dir;
  const std::string path = (dir / "milter.sock").string();
  EXPECT_EQ(server_->Listen(ListenAddress{true, "", 0, path}), path);
  Start();
  asio::io_context client_io;
  asio::local::stream_protocol::socket s(client_io);
  s.connect(asio::local::stream_protocol::endpoint(path));
  Mta mta(std::move(s));
  mta.Send(kOffer);
  EXPECT_TRUE(std::holds_alternative<OptNegReply>(mta.Read()));
  mta.Send(ConnectInfo{"local", 'L', 0, "/var/run/x"});
  EXPECT_EQ(mta.Read(), Reply(SimpleReply{'c'}));
  mta.Send(RcptTo{{"<blocked@example.net>"}});
  EXPECT_EQ(mta.Read(), Reply(ReplyCode{"550 5.7.1 blocked"}));
}

TEST_P(ServerFixture, OversizedPacketClosesOnlyThatConnection) {
  const std::string bound = server_->Listen(ListenAddress{false, "127.0.0.1", 0, ""});
  Start();
  auto good = ConnectTcp(bound);
  good.Send(kOffer);
  good.Read();

  auto bad = ConnectTcp(bound);
  bad.SendRaw(
      "\x7f\xff\xff\xff"
      "O"s);  // 2 GiB announced
  EXPECT_TRUE(bad.Closed());

  good.Send(ConnectInfo{"c", '4', 1, "192.0.2.9"});
  EXPECT_EQ(good.Read(), Reply(SimpleReply{'c'}));
  EXPECT_GE(server_->stats().protocol_errors.load(), 1u);
}

TEST(MilterServerIdle, SilentConnectionIsClosedAfterTheIdleTimeoutOthersKeepWorking) {
  asio::io_context io;
  FakeSink sink;
  ServerOptions options;
  options.idle_timeout = std::chrono::seconds(1);
  MilterServer server(io, sink, options);
  const std::string bound = server.Listen(ListenAddress{false, "127.0.0.1", 0, ""});
  std::thread thread([&io] { io.run(); });

  auto silent = ConnectTcp(bound);
  silent.Send(kOffer);
  silent.Read();
  auto busy = ConnectTcp(bound);
  busy.Send(kOffer);
  busy.Read();
  // Activity part-way through the first idle period moves the busy connection's limit on.
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  busy.Send(ConnectInfo{"c", '4', 1, "192.0.2.9"});
  EXPECT_EQ(busy.Read(), Reply(SimpleReply{'c'}));
  // Blocks until the server gives up on the silent connection (after its second).
  EXPECT_TRUE(silent.Closed());
  busy.Send(Helo{"client.example"});
  EXPECT_EQ(busy.Read(), Reply(SimpleReply{'c'}));

  server.StopAccepting();
  io.stop();
  thread.join();
}

// An MTA that keeps sending but stops reading our replies (wedged) fills our socket's send
// buffer; the write that blocks then has a deadline (write_timeout), and the connection is closed

// A counter's value as the metrics endpoint would serve it (-1 when absent).
double MetricValue(const prometheus::Collectable& metrics, const std::string& name) {
  for (const auto& family : metrics.Collect())
    if (family.name == name && !family.metric.empty()) return family.metric.front().counter.value;
  return -1;
}

// (counted as a write timeout) instead of pinned forever, while other MTAs are still served.
TEST(MilterServerIdle, MtaThatStopsReadingIsClosedAfterTheWriteTimeout) {
  asio::io_context io;
  FakeSink sink;
  sink.wanted = {};  // no events: every step is answered at once with 'c'
  ServerOptions options;
  options.idle_timeout = std::chrono::seconds(60);  // so only the write deadline can close it
  options.write_timeout = std::chrono::milliseconds(300);
  MilterServer server(io, sink, options);
  // A unix socket: the wedge is exact there (see support/wedged_peer.h); TCP is the policy test's.
  smtpbridge::testing::TempDir dir;
  const std::string path = (dir / "milter.sock").string();
  server.Listen(ListenAddress{true, "", 0, path});
  std::thread thread([&io] { io.run(); });

  asio::io_context client_io;
  using Unix = asio::local::stream_protocol;
  auto connect = [&] {
    Unix::socket s(client_io);
    s.connect(Unix::endpoint(path));
    return s;
  };
  Unix::socket wedged = connect();
  asio::write(wedged,
              asio::buffer(Frame(EncodeCommandPacket(OptNeg{6, 0x1ff, 0}))));  // no NR flags
  // HELO after HELO, each answered with 'c', none of them read.
  std::thread sender = smtpbridge::testing::SendWithoutReading(
      wedged, Frame(EncodeCommandPacket(Helo{"wedged.example"})));

  {
    Mta other(connect());  // served while the wedged one waits
    other.Send(OptNeg{6, 0x1ff, 0});
    EXPECT_TRUE(std::holds_alternative<OptNegReply>(other.Read()));
  }

  for (int i = 0; i < 1000 && server.stats().active_connections.load() != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(server.stats().active_connections.load(), 0u) << "the wedged connection is still open";
  smtpbridge::testing::StopSending(wedged, sender);
  EXPECT_EQ(server.stats().write_timeouts.load(), 1u);
  EXPECT_EQ(server.stats().idle_timeouts.load(), 0u);
  EXPECT_EQ(MetricValue(*server.Metrics(), "smtpbridge_milter_write_timeouts_total"),
            1.0);        // on /metrics
  Mta after(connect());  // and serves the next one
  after.Send(OptNeg{6, 0x1ff, 0});
  EXPECT_TRUE(std::holds_alternative<OptNegReply>(after.Read()));

  server.StopAccepting();
  io.stop();
  thread.join();
}

TEST_P(ServerFixture, MalformedPacketsClose) {
  const std::string bound = server_->Listen(ListenAddress{false, "127.0.0.1", 0, ""});
  Start();
  const std::vector<std::string> garbage = {
      "\x00\x00\x00\x00"s,                   // zero length
      "\x00\x00\x00\x01Z"s,                  // unknown command
      "\x00\x00\x00\x05O\x00\x00\x00\x06"s,  // short OPTNEG
      Frame(EncodeCommandPacket(Helo{"before optneg"})),
  };
  for (const auto& g : garbage) {
    auto mta = ConnectTcp(bound);
    mta.SendRaw(g);
    EXPECT_TRUE(mta.Closed()) << "input of " << g.size() << " bytes";
  }
  // After negotiation, a malformed connect closes too.
  auto mta = ConnectTcp(bound);
  mta.Send(kOffer);
  mta.Read();
  mta.SendRaw(
      "\x00\x00\x00\x03"
      "Cab"s);
  EXPECT_TRUE(mta.Closed());
  EXPECT_EQ(server_->stats().protocol_errors.load(), garbage.size() + 1);
}

TEST_P(ServerFixture, ManyConcurrentConnections) {
  sink_.wanted = {"INBOUND_COMMAND:RCPT"};
  const std::string bound = server_->Listen(ListenAddress{false, "127.0.0.1", 0, ""});
  Start();
  constexpr int kClients = 16;
  std::vector<std::thread> clients;
  std::atomic<int> rejected{0};
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      auto mta = ConnectTcp(bound);
      mta.Send(kOffer);
      mta.Read();
      for (int m = 0; m < 10; ++m) {
        mta.Send(MailFrom{{"<a" + std::to_string(i) + "@example.com>"}});
        mta.Send(RcptTo{{"<blocked@example.net>"}});
        if (std::holds_alternative<ReplyCode>(mta.Read())) rejected++;
        mta.Send(Abort{});
      }
      mta.Send(Quit{});
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(rejected.load(), kClients * 10);
}

TEST(ListenAddress, Spellings) {
  std::string error;
  auto a = ParseListenAddress("inet:127.0.0.1:8891", &error);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8891);
  a = ParseListenAddress("inet:8891@127.0.0.1", &error);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  a = ParseListenAddress("[::1]:0", &error);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "::1");
  a = ParseListenAddress("unix:/run/m.sock", &error);
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->is_unix);
  EXPECT_EQ(a->path, "/run/m.sock");
  EXPECT_FALSE(ParseListenAddress("inet:127.0.0.1:99999", &error));
  EXPECT_FALSE(ParseListenAddress("nonsense", &error));
  EXPECT_FALSE(ParseListenAddress("unix:", &error));
  EXPECT_NE(error.find("unix:"), std::string::npos);
}

}  // namespace
}  // namespace smtpbridge::milter
