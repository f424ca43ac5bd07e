#include "smtpbridge/trace/traceparent.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <cstdint>
#include <mutex>
#include <random>

namespace smtpbridge::trace {
namespace {

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool AllZero(std::string_view s) { return s.find_first_not_of('0') == std::string_view::npos; }

std::string Hex(const unsigned char* bytes, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0xf];
  }
  return out;
}

// Random hex of `n` bytes, never all zero. Ids name spans, they guard nothing: a per-thread
// generator seeded once from RAND_bytes costs nanoseconds, where RAND_bytes on every id (two per
// event) locks and runs OpenSSL's DRBG each time.
std::string RandomHex(size_t n) {
  static thread_local std::mt19937_64 generator = [] {
    std::array<std::uint64_t, 4> seed{};
    if (RAND_bytes(reinterpret_cast<unsigned char*>(seed.data()), sizeof(seed)) != 1) {
      std::random_device rd;
      for (auto& s : seed) s = (static_cast<std::uint64_t>(rd()) << 32) | rd();
    }
    std::seed_seq seq{seed[0], seed[1], seed[2], seed[3]};
    return std::mt19937_64(seq);
  }();
  std::array<unsigned char, 16> bytes{};
  bool zero = true;
  while (zero) {
    for (size_t i = 0; i < n; i += 8) {
      const std::uint64_t r = generator();
      for (size_t j = 0; j < 8 && i + j < n; ++j)
        bytes[i + j] = static_cast<unsigned char>(r >> (8 * j));
    }
    for (size_t i = 0; i < n; ++i) zero = zero && bytes[i] == 0;
  }
  return Hex(bytes.data(), n);
}

const std::array<unsigned char, 32>& ProcessKey() {
  static const std::array<unsigned char, 32> key = [] {
    std::array<unsigned char, 32> k{};
    if (RAND_bytes(k.data(), k.size()) != 1) {
      std::random_device rd;
      for (auto& b : k) b = static_cast<unsigned char>(rd());
    }
    return k;
  }();
  return key;
}

}  // namespace

std::optional<TraceParent> Parse(std::string_view text) {
  // version "-" trace-id "-" parent-id "-" flags; later versions may append "-..." fields.
  if (text.size() < 55 || text[2] != '-' || text[35] != '-' || text[52] != '-') return std::nullopt;
  const std::string_view version = text.substr(0, 2);
  if (!IsLowerHex(version) || version == "ff") return std::nullopt;
  if (version == "00" && text.size() != 55) return std::nullopt;
  if (text.size() > 55 && text[55] != '-') return std::nullopt;
  TraceParent t{std::string(text.substr(3, 32)), std::string(text.substr(36, 16)),
                std::string(text.substr(53, 2))};
  if (!IsLowerHex(t.trace_id) || !IsLowerHex(t.span_id) || !IsLowerHex(t.flags))
    return std::nullopt;
  if (AllZero(t.trace_id) || AllZero(t.span_id)) return std::nullopt;
  return t;
}

std::string NewTraceId() { return RandomHex(16); }
std::string NewSpanId() { return RandomHex(8); }

std::string SessionTraceId(std::string_view session_id) {
  if (session_id.empty()) return NewTraceId();
  // A session's events (MAIL, each RCPT, DATA, ...) come one after another on the thread that
  // serves its connection: keep the last answer per thread rather than hash again per event.
  struct Last {
    std::string session_id;
    std::string trace_id;
  };
  static thread_local Last last;
  if (!last.trace_id.empty() && last.session_id == session_id) return last.trace_id;
  // Fetched once: EVP_sha256() in EVP_DigestInit_ex looks the provider up on every call.
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  const auto& key = ProcessKey();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, sha256 ? sha256 : EVP_sha256(), nullptr);
  EVP_DigestUpdate(ctx, key.data(), key.size());
  EVP_DigestUpdate(ctx, session_id.data(), session_id.size());
  EVP_DigestFinal_ex(ctx, digest, &length);
  EVP_MD_CTX_free(ctx);
  std::string id = Hex(digest, 16);
  if (AllZero(id)) id[31] = '1';
  last.session_id.assign(session_id);
  last.trace_id = id;
  return id;
}

TraceParent Child(const TraceParent& parent) {
  return {parent.trace_id, NewSpanId(), parent.flags};
}

}  // namespace smtpbridge::trace
