// The proxy's name for the hosts' Asio/Sink bridge (host/async_evaluate.h), kept so
// client_session.cc need not change while it is being split.
#pragma once

#include "host/async_evaluate.h"

namespace smtpbridge::proxy {
using host::AwaitEvaluation;
}  // namespace smtpbridge::proxy
