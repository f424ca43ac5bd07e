#include "tools/bridgectl_logs.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

namespace smtpbridge::bridgectl {
namespace {

std::atomic<bool> g_stop{false};

std::string Str(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

}  // namespace

std::string FormatLogLine(const std::string& line) {
  const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return "? " + line;
  std::ostringstream out;
  out << Str(j, "ts") << " " << Str(j, "event_id") << " " << Str(j, "keyword");
  if (Str(j, "kind") == "fallback") {
    out << " FALLBACK " << Str(j, "reason") << " -> " << Str(j, "source") << " (budget "
        << Str(j, "budget_us") << "us)";
  } else {
    const auto& v = j.value("verdict", nlohmann::json::object());
    out << " " << Str(v, "action");
    if (v.contains("code")) out << " " << Str(v, "code");
    if (v.contains("enhanced_code")) out << " " << Str(v, "enhanced_code");
    if (!Str(j, "decided_by").empty()) out << " by " << Str(j, "decided_by");
    out << " (" << Str(j, "source");
    if (j.contains("shed_reason")) out << " " << Str(j, "shed_reason");
    out << ") " << Str(j, "latency_us") << "us";
  }
  out << "\n    trace=" << Str(j, "trace_id") << " session=" << Str(j, "session_id");
  if (j.contains("bindings")) {
    out << " ";
    for (const auto& b : j["bindings"]) {
      out << " [" << Str(b, "name") << " " << Str(b, "outcome");
      if (b.contains("verdict")) out << " " << Str(b, "verdict");
      if (b.contains("latency_us")) out << " " << Str(b, "latency_us") << "us";
      out << "]";
    }
  }
  return out.str();
}

int Logs(const std::string& path, bool follow, std::ostream& out) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (path != "-") {
    file.open(path);
    if (!file) {
      std::cerr << "bridgectl: logs: cannot read " << path << "\n";
      return 1;
    }
    in = &file;
  }
  if (follow) {
    std::signal(SIGINT, [](int) { g_stop = true; });
    std::signal(SIGTERM, [](int) { g_stop = true; });
  }
  std::string partial;
  while (!g_stop) {
    std::string line;
    if (std::getline(*in, line)) {
      if (in->eof()) {  // no newline yet: the writer is mid-line; keep it for the next read
        partial += line;
      } else {
        line = partial + line;
        partial.clear();
        if (!line.empty()) out << FormatLogLine(line) << std::endl;
        continue;
      }
    }
    if (!follow) break;
    in->clear();  // at the end for now: wait for the file to grow
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (!partial.empty() && !follow) out << FormatLogLine(partial) << std::endl;
  return 0;
}

}  // namespace smtpbridge::bridgectl
