// bridgectl logs: pretty-prints the dispatcher's decision log (and the sink's fallback lines),
// one JSON object per line (docs/security.md), from a file or stdin; --follow keeps reading as
// the file grows, like tail -f.
#pragma once

#include <iosfwd>
#include <string>

namespace smtpbridge::bridgectl {

// One decision/fallback line as text, e.g.
//   2026-12-06T00:10:00.123456Z ev-1 RCPT reject 550 5.7.1 by reject-blocked-rcpt (worker) 305us
//       trace=4bf9... session=s-1  [reject-blocked-rcpt answered reject 212us]
// Lines that are not JSON objects come back as they are, prefixed with "? ".
std::string FormatLogLine(const std::string& line);

// Reads `path` ("-": stdin) and prints every line; with `follow`, waits for more until
// interrupted (SIGINT/SIGTERM end it with exit code 0). Returns the exit code.
int Logs(const std::string& path, bool follow, std::ostream& out);

}  // namespace smtpbridge::bridgectl
