// An SMTP reply as the proxy writes it to a client or reads it from the next hop.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace smtpbridge::proxy {

struct Reply {
  int code = 0;
  // RFC 3463 enhanced status code ("2.1.0"); empty for none.
  std::string enhanced;
  // Text lines without code and enhanced code; at least one when written.
  std::vector<std::string> lines;

  bool positive() const { return code >= 200 && code < 400; }
  int klass() const { return code / 100; }

  // Wire form: "250-2.0.0 a\r\n250 2.0.0 b\r\n".
  std::string Wire() const;
  // One-line form for logs: "250 2.0.0 a / b".
  std::string Text() const;
};

// A one-line reply.
Reply MakeReply(int code, std::string_view enhanced, std::string_view text);

// True when `text` starts with an enhanced code whose class matches `code` ("2.1.0 ...").
// On success `enhanced` gets the code and `rest` the text after it.
bool SplitEnhancedCode(int code, std::string_view text, std::string* enhanced, std::string* rest);

}  // namespace smtpbridge::proxy
