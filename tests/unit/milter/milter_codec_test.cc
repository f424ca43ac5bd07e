// Recorded packets, built byte by byte from the milter v6 wire format, decoded and re-encoded.
#include "milter/milter_codec.h"

#include <gtest/gtest.h>

namespace smtpbridge::milter {
namespace {

using namespace std::string_literals;

// A framed packet: 4-byte big-endian length of code + payload, code, payload.
std::string Wire(char code, const std::string& payload) {
  uint32_t n = static_cast<uint32_t>(payload.size() + 1);
  std::string out{static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                  static_cast<char>(n)};
  out.push_back(code);
  return out + payload;
}

Packet ReadOne(const std::string& wire) {
  PacketReader reader;
  reader.Feed(wire);
  Packet p;
  EXPECT_EQ(reader.Next(p), PacketReader::Status::kPacket);
  EXPECT_EQ(reader.buffered(), 0u);
  return p;
}

// Decodes the recorded bytes, checks the value, and checks that encoding gives the same bytes.
void RoundTripCommand(const std::string& wire, const Command& expected) {
  Packet p = ReadOne(wire);
  std::string error;
  auto decoded = DecodeCommand(p, &error);
  ASSERT_TRUE(decoded) << error;
  EXPECT_EQ(*decoded, expected);
  EXPECT_EQ(Frame(EncodeCommandPacket(expected)), wire);
}

void RoundTripReply(const std::string& wire, const Reply& expected) {
  Packet p = ReadOne(wire);
  std::string error;
  auto decoded = DecodeReply(p, &error);
  ASSERT_TRUE(decoded) << error;
  EXPECT_EQ(*decoded, expected);
  EXPECT_EQ(Frame(EncodeReplyPacket(expected)), wire);
}

TEST(MilterCodec, OptNeg) {
  RoundTripCommand(Wire('O', "\x00\x00\x00\x06\x00\x00\x01\xff\x00\x1f\xff\xff"s),
                   OptNeg{6, 0x1ff, 0x1fffff});
}

TEST(MilterCodec, Macro) {
  RoundTripCommand(Wire('D', "Cj\0mx.example\0{daemon_name}\0smtpd\0"s),
                   MacroDefs{'C', {{"j", "mx.example"}, {"{daemon_name}", "smtpd"}}});
  RoundTripCommand(Wire('D', "R"s), MacroDefs{'R', {}});
}

TEST(MilterCodec, ConnectEveryFamily) {
  RoundTripCommand(Wire('C',
                        "client.example\0"
                        "4\x30\x39"
                        "192.0.2.1\0"s),
                   ConnectInfo{"client.example", '4', 12345, "192.0.2.1"});
  RoundTripCommand(Wire('C',
                        "v6.example\0"
                        "6\x00\x19"
                        "2001:db8::1\0"s),
                   ConnectInfo{"v6.example", '6', 25, "2001:db8::1"});
  RoundTripCommand(Wire('C',
                        "localhost\0"
                        "L\x00\x00"
                        "/run/smtp.sock\0"s),
                   ConnectInfo{"localhost", 'L', 0, "/run/smtp.sock"});
  RoundTripCommand(Wire('C', "unknown\0U"s), ConnectInfo{"unknown", 'U', 0, ""});
}

TEST(MilterCodec, EnvelopeAndData) {
  RoundTripCommand(Wire('H', "client.example\0"s), Helo{"client.example"});
  RoundTripCommand(Wire('M', "<a@example.com>\0SIZE=100\0BODY=8BITMIME\0"s),
                   MailFrom{{"<a@example.com>", "SIZE=100", "BODY=8BITMIME"}});
  RoundTripCommand(Wire('R', "<b@example.net>\0"s), RcptTo{{"<b@example.net>"}});
  RoundTripCommand(Wire('T', ""), Data{});
  RoundTripCommand(Wire('L', "Subject\0hello world\0"s), HeaderField{"Subject", "hello world"});
  RoundTripCommand(Wire('N', ""), EndOfHeaders{});
  RoundTripCommand(Wire('B', "line 1\r\nline 2\r\n"), BodyChunk{"line 1\r\nline 2\r\n"});
  RoundTripCommand(Wire('E', ""), EndOfMessage{""});
  RoundTripCommand(Wire('E', "tail\r\n"), EndOfMessage{"tail\r\n"});
}

TEST(MilterCodec, SessionControl) {
  RoundTripCommand(Wire('A', ""), Abort{});
  RoundTripCommand(Wire('Q', ""), Quit{});
  RoundTripCommand(Wire('K', ""), QuitNewConnection{});
  RoundTripCommand(Wire('U', "XFOO bar\0"s), UnknownCommand{"XFOO bar"});
}

TEST(MilterCodec, Replies) {
  RoundTripReply(Wire('O', "\x00\x00\x00\x06\x00\x00\x00\x3d\x00\x00\x10\x00"s),
                 OptNegReply{6, 0x3d, 0x1000, {}});
  RoundTripReply(
      Wire(
          'O',
          "\x00\x00\x00\x06\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00j {daemon_name}\0\x00\x00\x00\x05i\0"s),
      OptNegReply{6, 0x100, 0, {{0, "j {daemon_name}"}, {5, "i"}}});
  for (char c : {'c', 'a', 'r', 't', 'd', 'p', 's', 'f', '4'})
    RoundTripReply(Wire(c, ""), SimpleReply{c});
  RoundTripReply(Wire('y', "550 5.7.1 no\0"s), ReplyCode{"550 5.7.1 no"});
  RoundTripReply(Wire('y', "451-4.7.1 a\r\n451 4.7.1 b\0"s),
                 ReplyCode{"451-4.7.1 a\r\n451 4.7.1 b"});
}

TEST(MilterCodec, ModificationActions) {
  RoundTripReply(Wire('h', "X-Policy\0checked\0"s), AddHeaderReply{"X-Policy", "checked"});
  RoundTripReply(Wire('i', "\x00\x00\x00\x00X-First\0top\0"s),
                 InsertHeaderReply{0, "X-First", "top"});
  RoundTripReply(Wire('m', "\x00\x00\x00\x02Subject\0\0"s), ChangeHeaderReply{2, "Subject", ""});
  RoundTripReply(Wire('e', "<new@example.com>\0"s), ChangeFromReply{"<new@example.com>", ""});
  RoundTripReply(Wire('e', "<new@example.com>\0SIZE=10\0"s),
                 ChangeFromReply{"<new@example.com>", "SIZE=10"});
  RoundTripReply(Wire('+', "<c@example.org>\0"s), AddRcptReply{"<c@example.org>", std::nullopt});
  RoundTripReply(Wire('2', "<c@example.org>\0NOTIFY=NEVER\0"s),
                 AddRcptReply{"<c@example.org>", "NOTIFY=NEVER"});
  RoundTripReply(Wire('-', "<b@example.net>\0"s), DelRcptReply{"<b@example.net>"});
  RoundTripReply(Wire('q', "suspicious\0"s), QuarantineReply{"suspicious"});
  RoundTripReply(Wire('b', "new body\r\n"), ReplaceBodyReply{"new body\r\n"});
}

TEST(MilterCodec, ReaderSplitsAndJoinsPackets) {
  std::string stream = Wire('T', "") + Wire('H', "x\0"s) + Wire('N', "");
  PacketReader reader;
  std::vector<Packet> got;
  for (char c : stream) {  // one byte at a time
    reader.Feed(std::string(1, c));
    Packet p;
    while (reader.Next(p) == PacketReader::Status::kPacket) got.push_back(p);
  }
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].code, 'T');
  EXPECT_EQ(got[1].payload, "x\0"s);
  EXPECT_EQ(got[2].code, 'N');
}

TEST(MilterCodec, ReaderRejectsOversizedAndEmptyPackets) {
  PacketReader small(16);
  small.Feed("\x00\x00\x00\x20"s);  // 32 > 16
  Packet p;
  EXPECT_EQ(small.Next(p), PacketReader::Status::kError);
  EXPECT_NE(small.error().find("exceeds"), std::string::npos);
  EXPECT_EQ(small.Next(p), PacketReader::Status::kError);  // stays failed

  PacketReader zero;
  zero.Feed("\x00\x00\x00\x00"s);
  EXPECT_EQ(zero.Next(p), PacketReader::Status::kError);

  PacketReader huge;
  huge.Feed("\xff\xff\xff\xff"s);
  EXPECT_EQ(huge.Next(p), PacketReader::Status::kError);
}

TEST(MilterCodec, MalformedCommandsAreErrors) {
  const std::vector<Packet> bad = {
      {'O', "\x00\x00\x00\x06"s},  // short OPTNEG
      {'D', ""},                   // macro without stage
      {'D', "Cj\0"s},              // name without value
      {'C', "host"},               // unterminated hostname
      {'C', "host\0"s},            // no family
      {'C',
       "host\0"
       "X\x00\x19"
       "1.2.3.4\0"s},  // unknown family
      {'C',
       "host\0"
       "4\x00"s},  // truncated port
      {'C',
       "host\0"
       "4\x00\x19"
       "1.2.3.4"s},           // unterminated address
      {'C', "host\0U\x00"s},  // data after U
      {'H', "name"},          // unterminated
      {'H', "a\0b\0"s},       // two strings
      {'M', ""},              // no sender
      {'R', "<x@y>"},         // unterminated
      {'L', "Subject\0"s},    // header without value
      {'U', ""},              // empty unknown
      {'Z', ""},              // unknown command code
  };
  for (const auto& packet : bad) {
    std::string error;
    EXPECT_FALSE(DecodeCommand(packet, &error)) << "code " << packet.code;
    EXPECT_FALSE(error.empty());
  }
}

TEST(MilterCodec, MalformedRepliesAreErrors) {
  const std::vector<Packet> bad = {
      {'c', "x"},
      {'y', "550"},
      {'h', "X\0"s},
      {'i', "\x00\x00"s},
      {'2', "<a>\0"s},
      {'O', "\x00\x00\x00\x06"s},
      {'O', "\x00\x00\x00\x06\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"s},
      {'Z', ""}};
  for (const auto& packet : bad) {
    std::string error;
    EXPECT_FALSE(DecodeReply(packet, &error)) << "code " << packet.code;
  }
}

}  // namespace
}  // namespace smtpbridge::milter
