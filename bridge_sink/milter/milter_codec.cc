#include "milter/milter_codec.h"

#include <cstring>

namespace smtpbridge::milter {
namespace {

uint32_t ReadU32(std::string_view in, std::size_t at) {
  auto b = [&](std::size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(in[at + i])); };
  return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
}

void AppendU32(std::string& out, uint32_t v) {
  out.push_back(static_cast<char>((v >> 24) & 0xff));
  out.push_back(static_cast<char>((v >> 16) & 0xff));
  out.push_back(static_cast<char>((v >> 8) & 0xff));
  out.push_back(static_cast<char>(v & 0xff));
}

void AppendCString(std::string& out, std::string_view s) {
  out.append(s);
  out.push_back('\0');
}

// Reads NUL-terminated strings from a payload; every string must be terminated.
class CStringReader {
 public:
  explicit CStringReader(std::string_view in) : in_(in) {}
  std::optional<std::string> Next() {
    if (pos_ >= in_.size()) return std::nullopt;
    auto nul = in_.find('\0', pos_);
    if (nul == std::string_view::npos) return std::nullopt;
    std::string s(in_.substr(pos_, nul - pos_));
    pos_ = nul + 1;
    return s;
  }
  bool AtEnd() const { return pos_ >= in_.size(); }
  std::size_t pos() const { return pos_; }
  void Skip(std::size_t n) { pos_ += n; }
  std::string_view rest() const { return in_.substr(std::min(pos_, in_.size())); }

 private:
  std::string_view in_;
  std::size_t pos_ = 0;
};

template <typename T>
std::optional<T> Fail(std::string* error, std::string message) {
  if (error) *error = std::move(message);
  return std::nullopt;
}

// A payload that is exactly one NUL-terminated string.
std::optional<std::string> SingleString(std::string_view payload) {
  if (payload.empty() || payload.back() != '\0') return std::nullopt;
  std::string_view s = payload.substr(0, payload.size() - 1);
  if (s.find('\0') != std::string_view::npos) return std::nullopt;
  return std::string(s);
}

// A payload of one or more NUL-terminated strings.
std::optional<std::vector<std::string>> StringList(std::string_view payload) {
  if (payload.empty() || payload.back() != '\0') return std::nullopt;
  std::vector<std::string> out;
  CStringReader reader(payload);
  while (!reader.AtEnd()) {
    auto s = reader.Next();
    if (!s) return std::nullopt;
    out.push_back(std::move(*s));
  }
  return out;
}

// Exactly two NUL-terminated strings (header name/value).
std::optional<std::pair<std::string, std::string>> StringPair(std::string_view payload) {
  auto list = StringList(payload);
  if (!list || list->size() != 2) return std::nullopt;
  return std::make_pair(std::move((*list)[0]), std::move((*list)[1]));
}

}  // namespace

PacketReader::Status PacketReader::Next(Packet& out) {
  if (!error_.empty()) return Status::kError;
  if (buffered() < kLengthPrefixSize) {
    if (offset_ > 0 && offset_ == buffer_.size()) {
      buffer_.clear();
      offset_ = 0;
    }
    return Status::kNeedMore;
  }
  std::string_view view(buffer_);
  uint32_t length = ReadU32(view, offset_);
  if (length == 0) {
    error_ = "zero-length packet";
    return Status::kError;
  }
  if (length > max_packet_) {
    error_ = "packet of " + std::to_string(length) + " bytes exceeds the limit of " +
             std::to_string(max_packet_);
    return Status::kError;
  }
  if (buffered() < kLengthPrefixSize + length) return Status::kNeedMore;
  std::size_t start = offset_ + kLengthPrefixSize;
  out.code = buffer_[start];
  out.payload.assign(buffer_, start + 1, length - 1);
  offset_ = start + length;
  if (offset_ == buffer_.size()) {
    buffer_.clear();
    offset_ = 0;
  } else if (offset_ > 64 * 1024) {
    buffer_.erase(0, offset_);
    offset_ = 0;
  }
  return Status::kPacket;
}

std::optional<Command> DecodeCommand(const Packet& packet, std::string* error) {
  std::string_view p(packet.payload);
  switch (packet.code) {
    case cmd::kOptNeg: {
      // v6 MTAs send exactly 12 bytes; tolerate trailing bytes as libmilter does.
      if (p.size() < 12) return Fail<Command>(error, "SMFIC_OPTNEG shorter than 12 bytes");
      return OptNeg{ReadU32(p, 0), ReadU32(p, 4), ReadU32(p, 8)};
    }
    case cmd::kMacro: {
      if (p.empty()) return Fail<Command>(error, "SMFIC_MACRO without a stage");
      MacroDefs defs;
      defs.stage = p[0];
      std::string_view rest = p.substr(1);
      if (!rest.empty()) {
        auto list = StringList(rest);
        if (!list || list->size() % 2 != 0)
          return Fail<Command>(error, "SMFIC_MACRO: names and values must pair up");
        for (std::size_t i = 0; i < list->size(); i += 2)
          defs.macros.emplace_back(std::move((*list)[i]), std::move((*list)[i + 1]));
      }
      return defs;
    }
    case cmd::kConnect: {
      CStringReader reader(p);
      auto host = reader.Next();
      if (!host) return Fail<Command>(error, "SMFIC_CONNECT: unterminated hostname");
      if (reader.AtEnd()) return Fail<Command>(error, "SMFIC_CONNECT: missing family");
      ConnectInfo info;
      info.hostname = std::move(*host);
      info.family = reader.rest()[0];
      reader.Skip(1);
      if (info.family == 'U') {
        if (!reader.AtEnd()) return Fail<Command>(error, "SMFIC_CONNECT: data after family U");
        return info;
      }
      if (info.family != '4' && info.family != '6' && info.family != 'L')
        return Fail<Command>(error, "SMFIC_CONNECT: unknown family");
      if (reader.rest().size() < 2) return Fail<Command>(error, "SMFIC_CONNECT: missing port");
      std::string_view rest = reader.rest();
      info.port = static_cast<uint16_t>((static_cast<uint8_t>(rest[0]) << 8) |
                                        static_cast<uint8_t>(rest[1]));
      auto address = SingleString(rest.substr(2));
      if (!address) return Fail<Command>(error, "SMFIC_CONNECT: malformed address");
      info.address = std::move(*address);
      return info;
    }
    case cmd::kHelo: {
      // Some MTAs send the HELO name without its NUL when empty; require one string.
      auto name = SingleString(p);
      if (!name) return Fail<Command>(error, "SMFIC_HELO: malformed name");
      return Helo{std::move(*name)};
    }
    case cmd::kMail:
    case cmd::kRcpt: {
      auto list = StringList(p);
      if (!list)
        return Fail<Command>(error,
                             std::string(CommandName(packet.code)) + ": malformed arguments");
      if (packet.code == cmd::kMail) return MailFrom{std::move(*list)};
      return RcptTo{std::move(*list)};
    }
    case cmd::kData:
      return Data{};
    case cmd::kHeader: {
      auto pair = StringPair(p);
      if (!pair) return Fail<Command>(error, "SMFIC_HEADER: expected name and value");
      return HeaderField{std::move(pair->first), std::move(pair->second)};
    }
    case cmd::kEoh:
      return EndOfHeaders{};
    case cmd::kBody:
      return BodyChunk{std::string(p)};
    case cmd::kBodyEob:
      return EndOfMessage{std::string(p)};
    case cmd::kAbort:
      return Abort{};
    case cmd::kQuit:
      return Quit{};
    case cmd::kQuitNewConnection:
      return QuitNewConnection{};
    case cmd::kUnknown: {
      auto line = SingleString(p);
      if (!line) return Fail<Command>(error, "SMFIC_UNKNOWN: malformed command");
      return UnknownCommand{std::move(*line)};
    }
    default:
      return Fail<Command>(
          error, "unknown command code " + std::to_string(static_cast<uint8_t>(packet.code)));
  }
}

Packet EncodeCommandPacket(const Command& command) {
  Packet packet;
  std::string& out = packet.payload;
  std::visit(
      [&](const auto& c) {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, OptNeg>) {
          packet.code = cmd::kOptNeg;
          AppendU32(out, c.version);
          AppendU32(out, c.actions);
          AppendU32(out, c.protocol);
        } else if constexpr (std::is_same_v<T, MacroDefs>) {
          packet.code = cmd::kMacro;
          out.push_back(c.stage);
          for (const auto& [name, value] : c.macros) {
            AppendCString(out, name);
            AppendCString(out, value);
          }
        } else if constexpr (std::is_same_v<T, ConnectInfo>) {
          packet.code = cmd::kConnect;
          AppendCString(out, c.hostname);
          out.push_back(c.family);
          if (c.family != 'U') {
            out.push_back(static_cast<char>(c.port >> 8));
            out.push_back(static_cast<char>(c.port & 0xff));
            AppendCString(out, c.address);
          }
        } else if constexpr (std::is_same_v<T, Helo>) {
          packet.code = cmd::kHelo;
          AppendCString(out, c.name);
        } else if constexpr (std::is_same_v<T, MailFrom> || std::is_same_v<T, RcptTo>) {
          packet.code = std::is_same_v<T, MailFrom> ? cmd::kMail : cmd::kRcpt;
          for (const auto& a : c.args) AppendCString(out, a);
        } else if constexpr (std::is_same_v<T, Data>) {
          packet.code = cmd::kData;
        } else if constexpr (std::is_same_v<T, HeaderField>) {
          packet.code = cmd::kHeader;
          AppendCString(out, c.name);
          AppendCString(out, c.value);
        } else if constexpr (std::is_same_v<T, EndOfHeaders>) {
          packet.code = cmd::kEoh;
        } else if constexpr (std::is_same_v<T, BodyChunk>) {
          packet.code = cmd::kBody;
          out = c.data;
        } else if constexpr (std::is_same_v<T, EndOfMessage>) {
          packet.code = cmd::kBodyEob;
          out = c.data;
        } else if constexpr (std::is_same_v<T, Abort>) {
          packet.code = cmd::kAbort;
        } else if constexpr (std::is_same_v<T, Quit>) {
          packet.code = cmd::kQuit;
        } else if constexpr (std::is_same_v<T, QuitNewConnection>) {
          packet.code = cmd::kQuitNewConnection;
        } else if constexpr (std::is_same_v<T, UnknownCommand>) {
          packet.code = cmd::kUnknown;
          AppendCString(out, c.line);
        }
      },
      command);
  return packet;
}

std::optional<Reply> DecodeReply(const Packet& packet, std::string* error) {
  std::string_view p(packet.payload);
  switch (packet.code) {
    case reply::kOptNeg: {
      if (p.size() < 12) return Fail<Reply>(error, "SMFIR_OPTNEG shorter than 12 bytes");
      OptNegReply r{ReadU32(p, 0), ReadU32(p, 4), ReadU32(p, 8), {}};
      std::size_t at = 12;
      while (at < p.size()) {
        if (p.size() - at < 4) return Fail<Reply>(error, "SMFIR_OPTNEG: truncated macro stage");
        uint32_t st = ReadU32(p, at);
        auto nul = p.find('\0', at + 4);
        if (nul == std::string_view::npos)
          return Fail<Reply>(error, "SMFIR_OPTNEG: unterminated macro list");
        r.macros[st] = std::string(p.substr(at + 4, nul - at - 4));
        at = nul + 1;
      }
      return r;
    }
    case reply::kContinue:
    case reply::kAccept:
    case reply::kReject:
    case reply::kTempfail:
    case reply::kDiscard:
    case reply::kProgress:
    case reply::kSkip:
    case reply::kConnFail:
    case reply::kShutdown:
      if (!p.empty())
        return Fail<Reply>(error, std::string(ReplyName(packet.code)) + " with a payload");
      return SimpleReply{packet.code};
    case reply::kReplyCode: {
      auto text = SingleString(p);
      if (!text) return Fail<Reply>(error, "SMFIR_REPLYCODE: malformed text");
      return ReplyCode{std::move(*text)};
    }
    case reply::kAddHeader: {
      auto pair = StringPair(p);
      if (!pair) return Fail<Reply>(error, "SMFIR_ADDHEADER: expected name and value");
      return AddHeaderReply{std::move(pair->first), std::move(pair->second)};
    }
    case reply::kInsHeader:
    case reply::kChgHeader: {
      if (p.size() < 4)
        return Fail<Reply>(error, std::string(ReplyName(packet.code)) + ": missing index");
      auto pair = StringPair(p.substr(4));
      if (!pair)
        return Fail<Reply>(error,
                           std::string(ReplyName(packet.code)) + ": expected name and value");
      if (packet.code == reply::kInsHeader)
        return InsertHeaderReply{ReadU32(p, 0), std::move(pair->first), std::move(pair->second)};
      return ChangeHeaderReply{ReadU32(p, 0), std::move(pair->first), std::move(pair->second)};
    }
    case reply::kChgFrom: {
      auto list = StringList(p);
      if (!list || list->size() > 2) return Fail<Reply>(error, "SMFIR_CHGFROM: malformed");
      ChangeFromReply r{(*list)[0], list->size() == 2 ? (*list)[1] : ""};
      return r;
    }
    case reply::kAddRcpt:
    case reply::kDelRcpt: {
      auto s = SingleString(p);
      if (!s)
        return Fail<Reply>(error, std::string(ReplyName(packet.code)) + ": malformed address");
      if (packet.code == reply::kAddRcpt) return AddRcptReply{std::move(*s), std::nullopt};
      return DelRcptReply{std::move(*s)};
    }
    case reply::kAddRcptPar: {
      auto list = StringList(p);
      if (!list || list->size() != 2) return Fail<Reply>(error, "SMFIR_ADDRCPT_PAR: malformed");
      return AddRcptReply{(*list)[0], (*list)[1]};
    }
    case reply::kQuarantine: {
      auto s = SingleString(p);
      if (!s) return Fail<Reply>(error, "SMFIR_QUARANTINE: malformed reason");
      return QuarantineReply{std::move(*s)};
    }
    case reply::kReplBody:
      return ReplaceBodyReply{std::string(p)};
    default:
      return Fail<Reply>(error,
                         "unknown reply code " + std::to_string(static_cast<uint8_t>(packet.code)));
  }
}

Packet EncodeReplyPacket(const Reply& r) {
  Packet packet;
  std::string& out = packet.payload;
  std::visit(
      [&](const auto& c) {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, OptNegReply>) {
          packet.code = reply::kOptNeg;
          AppendU32(out, c.version);
          AppendU32(out, c.actions);
          AppendU32(out, c.protocol);
          for (const auto& [st, names] : c.macros) {
            AppendU32(out, st);
            AppendCString(out, names);
          }
        } else if constexpr (std::is_same_v<T, SimpleReply>) {
          packet.code = c.code;
        } else if constexpr (std::is_same_v<T, ReplyCode>) {
          packet.code = reply::kReplyCode;
          AppendCString(out, c.text);
        } else if constexpr (std::is_same_v<T, AddHeaderReply>) {
          packet.code = reply::kAddHeader;
          AppendCString(out, c.name);
          AppendCString(out, c.value);
        } else if constexpr (std::is_same_v<T, InsertHeaderReply> ||
                             std::is_same_v<T, ChangeHeaderReply>) {
          packet.code =
              std::is_same_v<T, InsertHeaderReply> ? reply::kInsHeader : reply::kChgHeader;
          AppendU32(out, c.index);
          AppendCString(out, c.name);
          AppendCString(out, c.value);
        } else if constexpr (std::is_same_v<T, ChangeFromReply>) {
          packet.code = reply::kChgFrom;
          AppendCString(out, c.address);
          if (!c.parameters.empty()) AppendCString(out, c.parameters);
        } else if constexpr (std::is_same_v<T, AddRcptReply>) {
          packet.code = c.parameters ? reply::kAddRcptPar : reply::kAddRcpt;
          AppendCString(out, c.address);
          if (c.parameters) AppendCString(out, *c.parameters);
        } else if constexpr (std::is_same_v<T, DelRcptReply>) {
          packet.code = reply::kDelRcpt;
          AppendCString(out, c.address);
        } else if constexpr (std::is_same_v<T, QuarantineReply>) {
          packet.code = reply::kQuarantine;
          AppendCString(out, c.reason);
        } else if constexpr (std::is_same_v<T, ReplaceBodyReply>) {
          packet.code = reply::kReplBody;
          out = c.data;
        }
      },
      r);
  return packet;
}

void AppendFrame(const Packet& packet, std::string& out) {
  AppendU32(out, static_cast<uint32_t>(packet.payload.size() + 1));
  out.push_back(packet.code);
  out.append(packet.payload);
}

std::string Frame(const Packet& packet) {
  std::string out;
  AppendFrame(packet, out);
  return out;
}

std::string_view CommandName(char code) {
  switch (code) {
    case cmd::kAbort:
      return "SMFIC_ABORT";
    case cmd::kBody:
      return "SMFIC_BODY";
    case cmd::kConnect:
      return "SMFIC_CONNECT";
    case cmd::kMacro:
      return "SMFIC_MACRO";
    case cmd::kBodyEob:
      return "SMFIC_BODYEOB";
    case cmd::kHelo:
      return "SMFIC_HELO";
    case cmd::kQuitNewConnection:
      return "SMFIC_QUIT_NC";
    case cmd::kHeader:
      return "SMFIC_HEADER";
    case cmd::kMail:
      return "SMFIC_MAIL";
    case cmd::kEoh:
      return "SMFIC_EOH";
    case cmd::kOptNeg:
      return "SMFIC_OPTNEG";
    case cmd::kQuit:
      return "SMFIC_QUIT";
    case cmd::kRcpt:
      return "SMFIC_RCPT";
    case cmd::kData:
      return "SMFIC_DATA";
    case cmd::kUnknown:
      return "SMFIC_UNKNOWN";
    default:
      return "SMFIC_?";
  }
}

std::string_view ReplyName(char code) {
  switch (code) {
    case reply::kAddRcpt:
      return "SMFIR_ADDRCPT";
    case reply::kDelRcpt:
      return "SMFIR_DELRCPT";
    case reply::kAddRcptPar:
      return "SMFIR_ADDRCPT_PAR";
    case reply::kShutdown:
      return "SMFIR_SHUTDOWN";
    case reply::kAccept:
      return "SMFIR_ACCEPT";
    case reply::kReplBody:
      return "SMFIR_REPLBODY";
    case reply::kContinue:
      return "SMFIR_CONTINUE";
    case reply::kDiscard:
      return "SMFIR_DISCARD";
    case reply::kChgFrom:
      return "SMFIR_CHGFROM";
    case reply::kConnFail:
      return "SMFIR_CONN_FAIL";
    case reply::kAddHeader:
      return "SMFIR_ADDHEADER";
    case reply::kInsHeader:
      return "SMFIR_INSHEADER";
    case reply::kSetSymList:
      return "SMFIR_SETSYMLIST";
    case reply::kChgHeader:
      return "SMFIR_CHGHEADER";
    case reply::kProgress:
      return "SMFIR_PROGRESS";
    case reply::kQuarantine:
      return "SMFIR_QUARANTINE";
    case reply::kReject:
      return "SMFIR_REJECT";
    case reply::kSkip:
      return "SMFIR_SKIP";
    case reply::kTempfail:
      return "SMFIR_TEMPFAIL";
    case reply::kReplyCode:
      return "SMFIR_REPLYCODE";
    case reply::kOptNeg:
      return "SMFIR_OPTNEG";
    default:
      return "SMFIR_?";
  }
}

}  // namespace smtpbridge::milter
