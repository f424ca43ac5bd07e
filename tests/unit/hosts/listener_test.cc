// host::Listener, the accept loop every host shares: StopAccepting from a thread other than the
// I/O threads while the loop re-arms (the race ThreadSanitizer reported when the close was not
// serialised with the re-arm; run this under the tsan preset), acceptors closed on return, and
// unix socket files removed with the listener.
#include "host/listener.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <thread>

#include "support/temp_dir.h"

namespace smtpbridge::host {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

uint16_t PortOf(const std::string& bound) {
  return static_cast<uint16_t>(std::stoi(bound.substr(bound.rfind(':') + 1)));
}

TEST(Listener, StopAcceptingFromAnotherThreadWhileTheLoopRearms) {
  for (int round = 0; round < 20; ++round) {
    asio::io_context io;
    std::atomic<int> accepted{0};
    Listener listener(io, StrandPerConnection(io), "test");
    const auto port = PortOf(listener.Listen(ListenAddress{false, "127.0.0.1", 0, ""},
                                             {.tcp = [&](tcp::socket) { accepted++; }}));
    std::thread a([&] { io.run(); });
    std::thread b([&] { io.run(); });
    asio::io_context client_io;
    std::vector<tcp::socket> clients;
    for (int i = 0; i < 4; ++i) {
      clients.emplace_back(client_io);
      clients.back().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    }
    while (accepted.load() < 2) std::this_thread::yield();  // the loop is re-arming now
    listener.StopAccepting();
    // Closed on return: a new connection is refused.
    tcp::socket late(client_io);
    boost::system::error_code ec;
    late.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
    EXPECT_EQ(ec, asio::error::connection_refused);
    io.stop();
    a.join();
    b.join();
  }
}

TEST(Listener, UnixSocketFileGoesWithTheListener) {
  smtpbridge::testing::TempDir dir;
  const std::string path = (dir / "l.sock").string();
  asio::io_context io;
  {
    Listener listener(io, StrandPerConnection(io), "test");
    EXPECT_EQ(
        listener.Listen(ListenAddress{true, "", 0, path},
                        {.tcp = {}, .unix_socket = [](asio::local::stream_protocol::socket) {}}),
        path);
    EXPECT_TRUE(std::filesystem::is_socket(path));
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(Listener, HostWithoutUnixHandlerRefusesUnixAddresses) {
  asio::io_context io;
  Listener listener(io, StrandPerConnection(io), "test");
  EXPECT_THROW(
      listener.Listen(ListenAddress{true, "", 0, "/tmp/never.sock"}, {.tcp = [](tcp::socket) {}}),
      std::runtime_error);
}

TEST(ListenAddress, HostPortAloneAsTheProxyTakesIt) {
  auto hp = ParseHostPort("[::1]:25");
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->host, "::1");
  EXPECT_EQ(hp->port, 25);
  hp = ParseHostPort("mx.example:2526");
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->host, "mx.example");
  EXPECT_FALSE(ParseHostPort(":25"));
  EXPECT_FALSE(ParseHostPort("host:"));
  EXPECT_FALSE(ParseHostPort("host:65536"));
  EXPECT_FALSE(ParseHostPort("host:+25"));
  EXPECT_FALSE(ParseHostPort("host"));
}

}  // namespace
}  // namespace smtpbridge::host
