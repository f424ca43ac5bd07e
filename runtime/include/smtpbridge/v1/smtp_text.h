// The syntax rules every part applies to text that crosses the wire contract: what may go into a
// protobuf `string` field, into a log line, into an SMTP reply, a header field or an envelope
// path. One copy, so the dispatcher's verdict validation and the hosts' defensive checks agree.
#pragma once

#include <string>
#include <string_view>

namespace smtpbridge::v1 {

// Replaces bytes that are not valid UTF-8 with '?', so proto string fields always serialize (a
// string field with invalid UTF-8 makes the receiver refuse the whole message).
std::string Utf8Safe(std::string_view text);
bool IsUtf8(std::string_view text);

// For log lines and operator output: CR, LF, NUL and other control characters (and '"' and '\\')
// become C escapes ("\r", "\x01"), so worker-supplied text can never start a line of its own.
std::string EscapeForLog(std::string_view text);

// One line of reply text (RFC 5321 textstring, plus UTF-8): HT and 0x20-0x7E, or bytes >= 0x80;
// no CR, LF, NUL or other control character.
bool IsReplyText(std::string_view text);

// RFC 3463 "class.subject.detail": class 2, 4 or 5, subject and detail 1-3 digits.
bool IsEnhancedCode(std::string_view text);

// RFC 5322 field name: 1*ftext (0x21-0x7E except ':').
bool IsHeaderName(std::string_view name);
// A header field value: no NUL, CR and LF only as CRLF followed by a space or tab (folding).
bool IsHeaderValue(std::string_view value);

// The inside of an RFC 5321 path (no angle brackets): Local-part "@" Domain, or an address
// literal as the domain, or "postmaster"; UTF-8 allowed (RFC 6531); at most 254 octets.
// Nothing that could end the path or add ESMTP parameters ('>', '<', spaces, control characters).
bool IsMailbox(std::string_view address);

// ESMTP parameters as they follow a path: "KEY[=VALUE]" separated by single spaces
// (RFC 5321 esmtp-param); empty is valid.
bool IsEsmtpParameters(std::string_view parameters);

// Control characters (and CR/LF) replaced by a space, invalid UTF-8 by '?': for free text such
// as a quarantine reason, which must survive rather than be refused.
std::string OneLine(std::string_view text);

}  // namespace smtpbridge::v1
