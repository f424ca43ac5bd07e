// The bindings YAML loader: parses, validates and compiles a bindings file into a BindingSet.
// Every problem is collected (not just the first) as "file:line: field: message", e.g.
//   bindings.yaml:12: bindings[2].priority: "PRIO_HUGE" is not a number 0..32767 or a PRIO_* name
// The format is documented in docs/bindings.md.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bindings/binding_set.h"

namespace smtpbridge::dispatcher {

struct LoadResult {
  std::shared_ptr<const BindingSet> set;  // null when there are errors
  std::vector<std::string> errors;
  bool ok() const { return set != nullptr; }
};

// `file_name` is what error messages and Binding.source show.
LoadResult LoadBindingsText(std::string_view text, const std::string& file_name);
LoadResult LoadBindingsFile(const std::string& path);

}  // namespace smtpbridge::dispatcher
