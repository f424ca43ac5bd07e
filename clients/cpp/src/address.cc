#include "smtpbridge/worker/address.h"

#include <algorithm>

#include "smtpbridge/common/ascii.h"

namespace smtpbridge::worker {
namespace {

std::string_view Normalize(std::string_view address) {
  address = common::TrimBlanks(address);
  if (address.size() >= 2 && address.front() == '<' && address.back() == '>') {
    address = address.substr(1, address.size() - 2);
  }
  return address;
}

}  // namespace

bool SameAddress(std::string_view a, std::string_view b) {
  return common::EqualsIgnoreCase(Normalize(a), Normalize(b));
}

bool AddressIn(std::string_view address, const std::vector<std::string>& candidates) {
  const std::string_view want = Normalize(address);
  if (want.empty()) return false;
  return std::any_of(candidates.begin(), candidates.end(), [&](const std::string& c) {
    return common::EqualsIgnoreCase(Normalize(c), want);
  });
}

}  // namespace smtpbridge::worker
