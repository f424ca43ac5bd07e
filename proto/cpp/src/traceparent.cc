#include "smtpbridge/trace/traceparent.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
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

// Random hex of `n` bytes, never all zero.
std::string RandomHex(size_t n) {
  std::array<unsigned char, 16> bytes{};
  do {
    if (RAND_bytes(bytes.data(), static_cast<int>(n)) != 1) {
      static thread_local std::mt19937_64 fallback{std::random_device{}()};
      for (size_t i = 0; i < n; ++i) bytes[i] = static_cast<unsigned char>(fallback());
    }
  } while (AllZero(Hex(bytes.data(), n)));
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
  if (!IsLowerHex(t.trace_id) || !IsLowerHex(t.span_id) || !IsLowerHex(t.flags)) return std::nullopt;
  if (AllZero(t.trace_id) || AllZero(t.span_id)) return std::nullopt;
  return t;
}

std::string NewTraceId() { return RandomHex(16); }
std::string NewSpanId() { return RandomHex(8); }

std::string SessionTraceId(std::string_view session_id) {
  if (session_id.empty()) return NewTraceId();
  const auto& key = ProcessKey();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  EVP_DigestUpdate(ctx, key.data(), key.size());
  EVP_DigestUpdate(ctx, session_id.data(), session_id.size());
  EVP_DigestFinal_ex(ctx, digest, &length);
  EVP_MD_CTX_free(ctx);
  std::string id = Hex(digest, 16);
  if (AllZero(id)) id[31] = '1';
  return id;
}

TraceParent Child(const TraceParent& parent) { return {parent.trace_id, NewSpanId(), parent.flags}; }

}  // namespace smtpbridge::trace
