// Sendmail milter protocol v6 constants (libmilter's mfdef.h), as the wire defines them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace smtpbridge::milter {

inline constexpr uint32_t kProtocolVersion = 6;

// A packet is a 4-byte big-endian length (command byte + payload), the command byte, the payload.
inline constexpr std::size_t kLengthPrefixSize = 4;
// Postfix sends body chunks of at most 64 KiB and header fields well under 1 MiB; anything
// larger is a broken or hostile peer.
inline constexpr std::size_t kMaxPacketSize = 1024 * 1024;

// Commands (MTA -> milter).
namespace cmd {
inline constexpr char kAbort = 'A';
inline constexpr char kBody = 'B';
inline constexpr char kConnect = 'C';
inline constexpr char kMacro = 'D';
inline constexpr char kBodyEob = 'E';
inline constexpr char kHelo = 'H';
inline constexpr char kQuitNewConnection = 'K';
inline constexpr char kHeader = 'L';
inline constexpr char kMail = 'M';
inline constexpr char kEoh = 'N';
inline constexpr char kOptNeg = 'O';
inline constexpr char kQuit = 'Q';
inline constexpr char kRcpt = 'R';
inline constexpr char kData = 'T';
inline constexpr char kUnknown = 'U';
}  // namespace cmd

// Replies and modification actions (milter -> MTA).
namespace reply {
inline constexpr char kAddRcpt = '+';
inline constexpr char kDelRcpt = '-';
inline constexpr char kAddRcptPar = '2';
inline constexpr char kShutdown = '4';
inline constexpr char kAccept = 'a';
inline constexpr char kReplBody = 'b';
inline constexpr char kContinue = 'c';
inline constexpr char kDiscard = 'd';
inline constexpr char kChgFrom = 'e';
inline constexpr char kConnFail = 'f';
inline constexpr char kAddHeader = 'h';
inline constexpr char kInsHeader = 'i';
inline constexpr char kSetSymList = 'l';
inline constexpr char kChgHeader = 'm';
inline constexpr char kProgress = 'p';
inline constexpr char kQuarantine = 'q';
inline constexpr char kReject = 'r';
inline constexpr char kSkip = 's';
inline constexpr char kTempfail = 't';
inline constexpr char kReplyCode = 'y';
inline constexpr char kOptNeg = 'O';
}  // namespace reply

// Actions the milter may take (SMFIF_*), negotiated in OPTNEG.
namespace action {
inline constexpr uint32_t kAddHeaders = 0x01;
inline constexpr uint32_t kChangeBody = 0x02;
inline constexpr uint32_t kAddRcpt = 0x04;
inline constexpr uint32_t kDelRcpt = 0x08;
inline constexpr uint32_t kChangeHeaders = 0x10;
inline constexpr uint32_t kQuarantine = 0x20;
inline constexpr uint32_t kChangeFrom = 0x40;
inline constexpr uint32_t kAddRcptPar = 0x80;
inline constexpr uint32_t kSetSymList = 0x100;
}  // namespace action

// Protocol steps the milter does not want (SMFIP_NO*) or will not reply to (SMFIP_NR_*).
namespace step {
inline constexpr uint32_t kNoConnect = 0x01;
inline constexpr uint32_t kNoHelo = 0x02;
inline constexpr uint32_t kNoMail = 0x04;
inline constexpr uint32_t kNoRcpt = 0x08;
inline constexpr uint32_t kNoBody = 0x10;
inline constexpr uint32_t kNoHeaders = 0x20;
inline constexpr uint32_t kNoEoh = 0x40;
inline constexpr uint32_t kNoReplyHeader = 0x80;
inline constexpr uint32_t kNoUnknown = 0x100;
inline constexpr uint32_t kNoData = 0x200;
inline constexpr uint32_t kSkip = 0x400;
inline constexpr uint32_t kRcptRejected = 0x800;
inline constexpr uint32_t kNoReplyConnect = 0x1000;
inline constexpr uint32_t kNoReplyHelo = 0x2000;
inline constexpr uint32_t kNoReplyMail = 0x4000;
inline constexpr uint32_t kNoReplyRcpt = 0x8000;
inline constexpr uint32_t kNoReplyData = 0x10000;
inline constexpr uint32_t kNoReplyUnknown = 0x20000;
inline constexpr uint32_t kNoReplyEoh = 0x40000;
inline constexpr uint32_t kNoReplyBody = 0x80000;
inline constexpr uint32_t kHeaderLeadingSpace = 0x100000;
}  // namespace step

// Protocol stages for SMFIR_SETSYMLIST macro requests (SMFIM_*).
namespace stage {
inline constexpr uint32_t kConnect = 0;
inline constexpr uint32_t kHelo = 1;
inline constexpr uint32_t kEnvFrom = 2;
inline constexpr uint32_t kEnvRcpt = 3;
inline constexpr uint32_t kData = 4;
inline constexpr uint32_t kEom = 5;
inline constexpr uint32_t kEoh = 6;
}  // namespace stage

}  // namespace smtpbridge::milter
