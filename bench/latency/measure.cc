#include "measure.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>

#include "smtpbridge/v1/names.h"

namespace smtpbridge::bench {
namespace {

using Clock = std::chrono::steady_clock;

std::atomic<bool> per_thread{false};

PathCost NewPathCost(const std::vector<PathProcess>& path) {
  return PathCost(path, per_thread.load());
}

double Percentile(std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t i = std::min(sorted.size() - 1, static_cast<size_t>(p * (sorted.size() - 1) + 0.5));
  return sorted[i];
}

void Summarize(Figures& f, std::vector<double>& latencies_us, PathCost cost) {
  f.samples_us = std::move(latencies_us);
  f.cost = std::move(cost);
  Finalize(f);
}

}  // namespace

void Merge(Figures& total, const Figures& round) {
  if (total.label.empty()) total.label = round.label;
  total.sent += round.sent;
  total.answered += round.answered;
  total.dropped += round.dropped;
  for (const auto& [why, n] : round.drop_reasons) total.drop_reasons[why] += n;
  total.seconds += round.seconds;
  total.cost.Merge(round.cost);
  total.samples_us.insert(total.samples_us.end(), round.samples_us.begin(), round.samples_us.end());
}

void Finalize(Figures& f) {
  std::sort(f.samples_us.begin(), f.samples_us.end());
  f.p50_us = Percentile(f.samples_us, 0.50);
  f.p99_us = Percentile(f.samples_us, 0.99);
  f.p999_us = Percentile(f.samples_us, 0.999);
  f.events_per_s = f.seconds > 0 ? f.answered / f.seconds : 0;
  const double n = static_cast<double>(f.sent);
  const ProcCost total = f.cost.Total();
  f.cpu_us_per_event = n > 0 ? total.cpu_seconds * 1e6 / n : 0;
  f.ctxt_per_event = n > 0 ? total.ctxt() / n : 0;
  const auto& per = f.cost.per_process();
  const ProcCost mid = per.empty() ? ProcCost{} : per.back();
  f.mid_cpu_us_per_event = n > 0 ? mid.cpu_seconds * 1e6 / n : 0;
  f.mid_ctxt_per_event = n > 0 ? mid.ctxt() / n : 0;
}

void CountPerThread(bool on) { per_thread = on; }

std::string RcptBindingYaml(const std::string& sink_target, const std::string& timeout) {
  return "bindings:\n"
         "  - name: bench-rcpt\n"
         "    instance: 1\n"
         "    event: INBOUND_COMMAND\n"
         "    rule: RCPT\n"
         "    sink: \"" +
         sink_target + "\"\n    timeout: " + timeout +
         "\n"
         "    on_error: continue\n"
         "    mode: enforce\n"
         "    enabled: true\n";
}

v1::Event BenchEvent(uint64_t n, std::chrono::microseconds budget) {
  v1::Event e;
  e.set_event_id("bench-" + std::to_string(n));
  e.set_type(v1::EVENT_TYPE_INBOUND_COMMAND);
  auto* s = e.mutable_session();
  s->set_session_id("bench-session-" + std::to_string(n / 8));
  s->set_instance(1);
  s->set_host_kind(v1::HOST_KIND_TEST);
  s->mutable_client()->set_address("192.0.2.10");
  s->mutable_client()->set_port(40000);
  s->set_helo_name("client.example.net");
  s->set_esmtp(true);
  e.mutable_envelope()->set_sender("sender@example.net");
  e.mutable_envelope()->set_has_sender(true);
  const std::string rcpt = "user" + std::to_string(n % 1000) + "@example.com";
  e.mutable_envelope()->set_recipient(rcpt);
  e.mutable_command()->set_keyword("RCPT");
  e.mutable_command()->set_argument("TO:<" + rcpt + ">");
  e.mutable_command()->set_line("RCPT TO:<" + rcpt + ">");
  e.mutable_response()->set_code(250);
  e.mutable_response()->set_enhanced_code("2.1.5");
  e.mutable_response()->add_lines("Ok");
  *e.mutable_budget() = v1::ToProtoDuration(budget);
  return e;
}

Figures RunClosedLoop(const std::string& label, const Submit& submit, size_t events, size_t warmup,
                      std::chrono::microseconds budget, const std::vector<PathProcess>& path) {
  std::atomic<uint64_t> completed{0};
  std::atomic<size_t> answered{0};
  std::mutex mu;
  std::map<std::string, size_t> reasons;
  auto one = [&](uint64_t n) {
    submit(BenchEvent(n, budget), [&](bool ok, std::string_view why) {
      if (ok) {
        answered.fetch_add(1, std::memory_order_relaxed);
      } else {
        std::lock_guard lock(mu);
        ++reasons[std::string(why)];
      }
      completed.fetch_add(1, std::memory_order_release);
      completed.notify_one();
    });
    // One in flight: wait for this event's answer before sending the next.
    uint64_t seen = completed.load(std::memory_order_acquire);
    while (seen < n + 1) {
      completed.wait(seen, std::memory_order_acquire);
      seen = completed.load(std::memory_order_acquire);
    }
  };
  uint64_t n = 0;
  for (size_t i = 0; i < warmup; ++i) one(n++);
  answered.store(0);
  {
    std::lock_guard lock(mu);
    reasons.clear();
  }

  Figures f;
  f.label = label;
  std::vector<double> latencies;
  latencies.reserve(events);
  PathCost cost = NewPathCost(path);
  cost.Begin();
  const auto start = Clock::now();
  for (size_t i = 0; i < events; ++i) {
    const auto t0 = Clock::now();
    one(n++);
    latencies.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  f.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  cost.End();
  f.sent = events;
  f.answered = answered.load();
  f.dropped = f.sent - f.answered;
  {
    std::lock_guard lock(mu);
    f.drop_reasons = reasons;
  }
  Summarize(f, latencies, std::move(cost));
  return f;
}

Figures RunInFlight(const std::string& label, const Submit& submit, size_t in_flight, size_t events,
                    size_t warmup, std::chrono::microseconds budget,
                    const std::vector<PathProcess>& path) {
  // Completions only count and record; this thread tops the window up, so a callback never
  // calls back into the client it came from (and every side pays the same hand-off).
  struct State {
    std::atomic<uint64_t> completed{0};
    std::vector<Clock::time_point> sent_at;
    std::vector<double> latency_us;
    std::vector<char> ok;
    std::mutex mu;
    std::map<std::string, size_t> reasons;
  };
  in_flight = std::max<size_t>(1, in_flight);
  uint64_t next_id = 0;
  auto run = [&](size_t count) {
    auto st = std::make_shared<State>();
    st->sent_at.resize(count);
    st->latency_us.assign(count, -1);
    st->ok.assign(count, 0);
    size_t sent = 0;
    auto send = [&] {
      const size_t i = sent++;
      st->sent_at[i] = Clock::now();
      submit(BenchEvent(next_id++, budget), [st, i](bool answered, std::string_view why) {
        st->latency_us[i] =
            std::chrono::duration<double, std::micro>(Clock::now() - st->sent_at[i]).count();
        st->ok[i] = answered ? 1 : 0;
        if (!answered) {
          std::lock_guard lock(st->mu);
          ++st->reasons[std::string(why)];
        }
        st->completed.fetch_add(1, std::memory_order_release);
        st->completed.notify_one();
      });
    };
    while (sent < count && sent < in_flight) send();
    uint64_t seen = 0;
    while (seen < count) {
      const uint64_t now = st->completed.load(std::memory_order_acquire);
      if (now == seen) {
        st->completed.wait(seen, std::memory_order_acquire);
        continue;
      }
      seen = now;
      while (sent < count && sent - seen < in_flight) send();
    }
    return st;
  };
  if (warmup > 0) run(warmup);

  PathCost cost = NewPathCost(path);
  cost.Begin();
  const auto start = Clock::now();
  auto st = run(events);
  Figures f;
  f.label = label;
  f.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  cost.End();
  std::vector<double> latencies;
  latencies.reserve(events);
  f.sent = events;
  for (size_t i = 0; i < events; ++i) {
    if (st->ok[i]) latencies.push_back(st->latency_us[i]);
  }
  f.answered = latencies.size();
  f.dropped = f.sent - f.answered;
  {
    std::lock_guard lock(st->mu);
    f.drop_reasons = st->reasons;
  }
  Summarize(f, latencies, std::move(cost));
  return f;
}

Figures RunOpenLoop(const std::string& label, const Submit& submit, double rate,
                    std::chrono::milliseconds duration, std::chrono::microseconds budget,
                    const std::vector<PathProcess>& path) {
  const size_t total = static_cast<size_t>(rate * duration.count() / 1000.0);
  const auto interval =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / rate));
  // One slot per event, written once by its completion: no locking on the hot path.
  auto latency_us = std::make_shared<std::vector<std::atomic<double>>>(total);
  auto ok = std::make_shared<std::vector<std::atomic<bool>>>(total);
  auto outstanding = std::make_shared<std::atomic<size_t>>(total);
  struct Reasons {
    std::mutex mu;
    std::map<std::string, size_t> counts;
  };
  auto reasons = std::make_shared<Reasons>();
  for (size_t i = 0; i < total; ++i) (*latency_us)[i].store(-1);

  PathCost cost = NewPathCost(path);
  cost.Begin();
  const auto start = Clock::now();
  for (size_t i = 0; i < total; ++i) {
    const auto scheduled = start + interval * i;
    std::this_thread::sleep_until(scheduled);
    submit(BenchEvent(i, budget), [latency_us, ok, outstanding, reasons, i, scheduled](
                                      bool answered, std::string_view why) {
      if (!answered) {
        std::lock_guard lock(reasons->mu);
        ++reasons->counts[std::string(why)];
      }
      (*latency_us)[i].store(
          std::chrono::duration<double, std::micro>(Clock::now() - scheduled).count());
      (*ok)[i].store(answered);
      outstanding->fetch_sub(1);
    });
  }
  // Give the last events their budget and a grace period; whatever is still out is dropped.
  const auto give_up = Clock::now() + budget + std::chrono::seconds(2);
  while (outstanding->load() > 0 && Clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  Figures f;
  f.label = label;
  f.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  cost.End();
  std::vector<double> latencies;
  latencies.reserve(total);
  f.sent = total;
  for (size_t i = 0; i < total; ++i) {
    const double l = (*latency_us)[i].load();
    if (l >= 0 && (*ok)[i].load()) {
      ++f.answered;
      latencies.push_back(l);
    }
  }
  f.dropped = f.sent - f.answered;
  {
    std::lock_guard lock(reasons->mu);
    f.drop_reasons = reasons->counts;
  }
  if (const size_t never = f.dropped -
                           [&] {
                             size_t n = 0;
                             for (const auto& [why, c] : f.drop_reasons) n += c;
                             return n;
                           }();
      never > 0) {
    f.drop_reasons["no answer"] += never;
  }
  // Achieved rate over the sending period (the drain tail is not offered load).
  f.seconds = std::min(f.seconds, duration.count() / 1000.0 + 0.001);
  Summarize(f, latencies, std::move(cost));
  return f;
}

}  // namespace smtpbridge::bench
