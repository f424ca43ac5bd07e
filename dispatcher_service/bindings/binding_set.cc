#include "bindings/binding_set.h"

#include <algorithm>
#include <set>

namespace smtpbridge::dispatcher {

std::optional<uint32_t> ParsePriorityName(std::string_view name) {
  static constexpr std::pair<std::string_view, uint32_t> kNames[] = {
      {"PRIO_HIGHEST", kPriorityHighest}, {"PRIO_HIGH", kPriorityHigh},
      {"PRIO_MEDIUM", kPriorityMedium},   {"PRIO_LOW", kPriorityDefault},
      {"PRIO_DEFAULT", kPriorityDefault}, {"PRIO_LOWEST", kPriorityLowest}};
  for (const auto& [n, v] : kNames) {
    if (n.size() == name.size() && std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) {
          return a == std::toupper(static_cast<unsigned char>(b));
        })) {
      return v;
    }
  }
  return std::nullopt;
}

BindingSet::BindingSet(std::vector<CompiledBinding> bindings, std::string source)
    : bindings_(std::move(bindings)), source_(std::move(source)) {
  for (size_t i = 0; i < bindings_.size(); ++i) {
    bindings_[i].order = i;
    const auto& b = bindings_[i].proto;
    if (!b.enabled()) continue;
    index_[{b.instance(), static_cast<int>(b.event())}].push_back(i);
  }
  for (auto& [key, list] : index_) {
    std::stable_sort(list.begin(), list.end(), [this](size_t a, size_t b) {
      return bindings_[a].priority() < bindings_[b].priority();
    });
  }
}

void BindingSet::Match(const v1::Event& event, std::vector<const CompiledBinding*>* out) const {
  out->clear();
  const uint32_t instance = event.session().instance() == 0 ? 1 : event.session().instance();
  const auto it = index_.find({instance, static_cast<int>(event.type())});
  if (it == index_.end()) return;
  for (const size_t i : it->second) {
    if (bindings_[i].rule.Matches(event)) out->push_back(&bindings_[i]);
  }
}

std::vector<v1::Interest> BindingSet::Interests(uint32_t instance) const {
  std::vector<v1::Interest> out;
  for (const auto& [key, list] : index_) {
    if (instance != 0 && key.first != instance) continue;
    v1::Interest interest;
    interest.set_instance(key.first);
    interest.set_event(static_cast<v1::EventType>(key.second));
    bool any = false;
    std::set<std::string> keywords;
    uint32_t body_limit = 0;
    for (const size_t i : list) {
      const auto& b = bindings_[i];
      if (b.rule.matches_any_keyword()) any = true;
      for (const auto& k : b.rule.keywords()) keywords.insert(k);
      if (b.rule.CanMatchKeyword("_EOD")) body_limit = std::max(body_limit, b.proto.body_limit());
    }
    if (!any) {
      for (const auto& k : keywords) interest.add_keywords(k);
    }
    interest.set_body_limit(body_limit);
    out.push_back(std::move(interest));
  }
  return out;
}

}  // namespace smtpbridge::dispatcher
