// Reading a process's Prometheus endpoint from tests and benches: one plain HTTP/1.0 GET on
// loopback, and the sum of one metric over its label sets.
#pragma once

#include <string>

namespace smtpbridge::testing {

// GET http://127.0.0.1:PORT/PATH; the whole answer (headers included), empty when unreachable.
std::string HttpGet(int port, const std::string& path);

// Sum of every sample of `name` (any labels) in a Prometheus text exposition.
double MetricSum(const std::string& text, const std::string& name);

}  // namespace smtpbridge::testing
