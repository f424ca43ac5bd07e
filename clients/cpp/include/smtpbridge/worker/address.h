// Envelope addresses compared the way binding rules compare them: case-insensitively, with
// surrounding blanks and one pair of angle brackets dropped. The same helpers as the other SDKs'
// same_address/address_in (docs/sdk.md).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace smtpbridge::worker {

// "<Bob@Example.COM>" and "bob@example.com" are the same address.
bool SameAddress(std::string_view a, std::string_view b);

// Whether `address` is one of `candidates` (e.g. ctx.property_list("blocked")); an empty
// address is in no list.
bool AddressIn(std::string_view address, const std::vector<std::string>& candidates);

}  // namespace smtpbridge::worker
