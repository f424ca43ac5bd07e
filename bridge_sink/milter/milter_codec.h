// Milter v6 wire codec: packet framing, command decoding and reply encoding. Pure: no I/O, no
// gRPC, no logging, so it is cheap to fuzz. Both directions are here so tests (and a fake MTA)
// can build and read either side.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "milter/milter_protocol.h"

namespace smtpbridge::milter {

// ---- commands (MTA -> milter) ----

struct OptNeg {
  uint32_t version = kProtocolVersion;
  uint32_t actions = 0;
  uint32_t protocol = 0;
  bool operator==(const OptNeg&) const = default;
};

// SMFIC_MACRO: the macros for the command `stage` (the command byte they precede).
struct MacroDefs {
  char stage = 0;
  std::vector<std::pair<std::string, std::string>> macros;
  bool operator==(const MacroDefs&) const = default;
};

struct ConnectInfo {
  std::string hostname;
  // '4' (IPv4), '6' (IPv6), 'L' (unix socket), 'U' (unknown: no port, no address).
  char family = 'U';
  uint16_t port = 0;
  std::string address;
  bool operator==(const ConnectInfo&) const = default;
};

struct Helo {
  std::string name;
  bool operator==(const Helo&) const = default;
};

// SMFIC_MAIL and SMFIC_RCPT: the address (with angle brackets, as the MTA sends it), then the
// ESMTP parameters.
struct MailFrom {
  std::vector<std::string> args;
  bool operator==(const MailFrom&) const = default;
};
struct RcptTo {
  std::vector<std::string> args;
  bool operator==(const RcptTo&) const = default;
};

struct Data {
  bool operator==(const Data&) const = default;
};

struct HeaderField {
  std::string name;
  std::string value;
  bool operator==(const HeaderField&) const = default;
};

struct EndOfHeaders {
  bool operator==(const EndOfHeaders&) const = default;
};

struct BodyChunk {
  std::string data;
  bool operator==(const BodyChunk&) const = default;
};

// SMFIC_BODYEOB; libmilter treats a non-empty payload as one last body chunk.
struct EndOfMessage {
  std::string data;
  bool operator==(const EndOfMessage&) const = default;
};

struct Abort {
  bool operator==(const Abort&) const = default;
};
struct Quit {
  bool operator==(const Quit&) const = default;
};
// SMFIC_QUIT_NC: this SMTP session ended, the milter connection stays for the next one.
struct QuitNewConnection {
  bool operator==(const QuitNewConnection&) const = default;
};

struct UnknownCommand {
  std::string line;
  bool operator==(const UnknownCommand&) const = default;
};

using Command = std::variant<OptNeg, MacroDefs, ConnectInfo, Helo, MailFrom, RcptTo, Data,
                             HeaderField, EndOfHeaders, BodyChunk, EndOfMessage, Abort, Quit,
                             QuitNewConnection, UnknownCommand>;

// ---- replies and modification actions (milter -> MTA) ----

struct OptNegReply {
  uint32_t version = kProtocolVersion;
  uint32_t actions = 0;
  uint32_t protocol = 0;
  // SMFIR_SETSYMLIST-style macro requests: stage (SMFIM_*) -> space-separated macro names.
  std::map<uint32_t, std::string> macros;
  bool operator==(const OptNegReply&) const = default;
};

// A reply without payload: continue, accept, reject, tempfail, discard, progress, skip, ...
struct SimpleReply {
  char code = reply::kContinue;
  bool operator==(const SimpleReply&) const = default;
};

// SMFIR_REPLYCODE: "550 5.7.1 text" (multi-line: "550-5.7.1 a\r\n550 5.7.1 b").
struct ReplyCode {
  std::string text;
  bool operator==(const ReplyCode&) const = default;
};

struct AddHeaderReply {
  std::string name;
  std::string value;
  bool operator==(const AddHeaderReply&) const = default;
};
// SMFIR_INSHEADER: index 0 is the top of the header.
struct InsertHeaderReply {
  uint32_t index = 0;
  std::string name;
  std::string value;
  bool operator==(const InsertHeaderReply&) const = default;
};
// SMFIR_CHGHEADER: index is the 1-based occurrence of `name`; an empty value deletes it.
struct ChangeHeaderReply {
  uint32_t index = 1;
  std::string name;
  std::string value;
  bool operator==(const ChangeHeaderReply&) const = default;
};
struct ChangeFromReply {
  std::string address;
  std::string parameters;  // omitted from the packet when empty
  bool operator==(const ChangeFromReply&) const = default;
};
// SMFIR_ADDRCPT, or SMFIR_ADDRCPT_PAR when `parameters` is set.
struct AddRcptReply {
  std::string address;
  std::optional<std::string> parameters;
  bool operator==(const AddRcptReply&) const = default;
};
struct DelRcptReply {
  std::string address;
  bool operator==(const DelRcptReply&) const = default;
};
struct QuarantineReply {
  std::string reason;
  bool operator==(const QuarantineReply&) const = default;
};
struct ReplaceBodyReply {
  std::string data;
  bool operator==(const ReplaceBodyReply&) const = default;
};

using Reply = std::variant<OptNegReply, SimpleReply, ReplyCode, AddHeaderReply, InsertHeaderReply,
                           ChangeHeaderReply, ChangeFromReply, AddRcptReply, DelRcptReply,
                           QuarantineReply, ReplaceBodyReply>;

// ---- framing ----

// One raw packet: the command byte and its payload.
struct Packet {
  char code = 0;
  std::string payload;
  bool operator==(const Packet&) const = default;
};

// Splits a byte stream into packets. Feed it what the socket read, then take packets until it
// says it needs more. After an error it stays failed (the connection must be closed).
class PacketReader {
 public:
  explicit PacketReader(std::size_t max_packet = kMaxPacketSize) : max_packet_(max_packet) {}

  void Feed(std::string_view bytes) { buffer_.append(bytes); }

  enum class Status { kPacket, kNeedMore, kError };
  // kPacket: `out` holds the next packet. kError: `error()` says why.
  Status Next(Packet& out);

  const std::string& error() const { return error_; }
  // Bytes buffered but not yet returned as packets.
  std::size_t buffered() const { return buffer_.size() - offset_; }

 private:
  std::size_t max_packet_;
  std::string buffer_;
  std::size_t offset_ = 0;
  std::string error_;
};

// Decodes one packet from the MTA; nullopt with `error` set when malformed.
std::optional<Command> DecodeCommand(const Packet& packet, std::string* error);
// Decodes one packet from the milter (used by tests and the fake MTA).
std::optional<Reply> DecodeReply(const Packet& packet, std::string* error);

Packet EncodeCommandPacket(const Command& command);
Packet EncodeReplyPacket(const Reply& reply);
// Appends the framed packet (length prefix + code + payload) to `out`.
void AppendFrame(const Packet& packet, std::string& out);
std::string Frame(const Packet& packet);

// The name of a command or reply code, for logs ("SMFIC_RCPT", "SMFIR_REPLYCODE", ...).
std::string_view CommandName(char code);
std::string_view ReplyName(char code);

}  // namespace smtpbridge::milter
