#include "smtpbridge/worker/address.h"
#include "smtpbridge/worker/worker.h"

using smtpbridge::v1::EVENT_TYPE_INBOUND_COMMAND;
using smtpbridge::worker::AddressIn;
using smtpbridge::worker::EventContext;
using smtpbridge::worker::Verdict;

int main() {
  smtpbridge::worker::Worker worker;
  worker.On(EVENT_TYPE_INBOUND_COMMAND, "RCPT", [](const EventContext& ctx) {
    if (AddressIn(ctx.recipient(), ctx.property_list("blocked")))
      return Verdict::Reject(550, "5.7.1", "recipient blocked").Tag("blocked");
    return Verdict::Continue();
  });
  worker.On(EVENT_TYPE_INBOUND_COMMAND, "_EOD", [](const EventContext&) {
    return Verdict::Continue().AddHeader("X-Policy", "checked");
  });
  worker.Serve("127.0.0.1:50051");  // returns after SIGTERM/SIGINT, once drained
}
