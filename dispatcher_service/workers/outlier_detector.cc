#include "workers/outlier_detector.h"

#include <algorithm>

namespace smtpbridge::dispatcher {

bool OutlierDetector::Eligible(OutlierState& s, Clock::TimePoint now, bool* probing_started) const {
  switch (s.mode) {
    case OutlierState::Mode::kHealthy:
      return true;
    case OutlierState::Mode::kEjected:
      if (now < s.ejected_until) return false;
      s.mode = OutlierState::Mode::kProbing;
      s.probe_in_flight = false;
      if (probing_started) *probing_started = true;
      return true;
    case OutlierState::Mode::kProbing:
      return !s.probe_in_flight;
  }
  return true;
}

bool OutlierDetector::OnPicked(OutlierState& s) const {
  if (s.mode != OutlierState::Mode::kProbing || s.probe_in_flight) return false;
  s.probe_in_flight = true;
  return true;
}

size_t OutlierDetector::MaxOut(size_t total) const {
  if (total < 2) return 0;
  const size_t share = total * options_.max_ejection_percent / 100;
  return std::clamp<size_t>(share, 1, total - 1);
}

Clock::duration OutlierDetector::EjectionFor(const OutlierState& s) const {
  const auto times = std::max<uint32_t>(s.times_ejected + 1, 1);
  const auto d = std::chrono::duration_cast<Clock::duration>(options_.base_ejection) * times;
  return std::min(d, std::chrono::duration_cast<Clock::duration>(options_.max_ejection));
}

void OutlierDetector::Eject(OutlierState& s, Clock::TimePoint now) const {
  s.ejected_until = now + EjectionFor(s);
  ++s.times_ejected;
  s.mode = OutlierState::Mode::kEjected;
  s.probe_in_flight = false;
  s.consecutive_failures = 0;
}

OutlierDetector::Change OutlierDetector::OnResult(OutlierState& s, CallResult result, bool probe,
                                                  Clock::TimePoint now, size_t out_now,
                                                  size_t total) const {
  if (s.mode != OutlierState::Mode::kHealthy) {
    // Out of rotation: only the probe's outcome counts (calls sent before the ejection that
    // end now say nothing new).
    if (!probe || s.mode != OutlierState::Mode::kProbing) return Change::kNone;
    s.probe_in_flight = false;
    if (result == CallResult::kNeutral) return Change::kNone;  // probe again on the next call
    if (result == CallResult::kSuccess) {
      s.mode = OutlierState::Mode::kHealthy;
      s.consecutive_failures = 0;
      s.returned_at = now;
      return Change::kReturned;
    }
    Eject(s, now);  // still sick: longer this time (it is already counted in out_now)
    return Change::kEjected;
  }
  if (result == CallResult::kNeutral) return Change::kNone;
  if (result == CallResult::kSuccess) {
    s.consecutive_failures = 0;
    return Change::kNone;
  }
  ++s.consecutive_failures;
  if (options_.consecutive_failures == 0 ||
      s.consecutive_failures < options_.consecutive_failures) {
    return Change::kNone;
  }
  if (out_now >= MaxOut(total)) return Change::kNone;  // keep it: too many are out already
  // Healthy for longer than the longest ejection since it last came back: start over.
  if (s.times_ejected > 0 && now - s.returned_at > options_.max_ejection) s.times_ejected = 0;
  Eject(s, now);
  return Change::kEjected;
}

}  // namespace smtpbridge::dispatcher
