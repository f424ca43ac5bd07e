// Fuzzes the Postfix policy request parser: any byte stream must parse or fail cleanly, with
// every request within the limits.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "policy/policy_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace smtpbridge::policy;
  RequestReader::Limits limits;
  limits.max_line = 256;
  limits.max_attributes = 16;
  limits.max_request = 1024;
  RequestReader reader(limits);
  const std::string input(reinterpret_cast<const char*>(data), size);
  // Byte-sized and whole feeds must agree on the number of requests.
  int whole = 0, bytewise = 0;
  {
    RequestReader r(limits);
    r.Feed(input);
    PolicyRequest req;
    while (r.Next(req) == RequestReader::Status::kRequest) {
      if (req.attributes.empty() || req.attributes.size() > limits.max_attributes) std::abort();
      ++whole;
    }
  }
  PolicyRequest req;
  for (char c : input) {
    reader.Feed(std::string_view(&c, 1));
    RequestReader::Status s;
    while ((s = reader.Next(req)) == RequestReader::Status::kRequest) ++bytewise;
    if (s == RequestReader::Status::kError) break;
  }
  if (bytewise > whole) std::abort();
  return 0;
}
