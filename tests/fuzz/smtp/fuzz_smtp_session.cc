// libFuzzer target: the proxy's session state machine (session_state.h) driven by a command
// sequence, as ClientSession drives it when every event continues. The input is split into
// lines; a line "#x" scripts what the next relayed command meets instead of being a command:
// "#4"/"#5" the next hop answers 451/550, "#r" a policy rewrites the client's reply to 550,
// "#p" a policy answers 250 itself (RESPOND), "#d" next_state DATA_OR_BDAT, "#e" SESSION_END,
// "#t" TLS starts, "#b" the BDAT chunk in progress fails. Invariants: never crash; a refusal is a
// 4xx/5xx, an admitted relayed command a 2xx/3xx; every native reply is well-formed on the
// wire; only a line without a keyword fires no event; the client never holds more relayed
// recipients than it was told were accepted; a nested MAIL is always refused once greeted.
// After DATA the lines up to "." (after BDAT LAST the chunks) become the message; what would go
// upstream, before and after message edits, has only CRLF line ends and no lone "." line.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "command_parser.h"
#include "line_reader.h"
#include "message_collector.h"
#include "message_data.h"
#include "message_edits.h"
#include "session_state.h"

using namespace smtpbridge::proxy;

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

void CheckWire(const Reply& reply) {
  Check(reply.code >= 200 && reply.code <= 599 && !reply.lines.empty());
  const std::string wire = reply.Wire();
  Check(wire.size() >= 2 && wire.compare(wire.size() - 2, 2, "\r\n") == 0);
  for (size_t i = 0; i < wire.size(); ++i) {
    if (wire[i] == '\n') Check(i > 0 && wire[i - 1] == '\r');
    if (wire[i] == '\r') Check(i + 1 < wire.size() && wire[i + 1] == '\n');
  }
}

// What goes upstream after DATA's 354: only CRLF line ends, and no line that is a lone "."
// (it would end the message early: smuggling), also after the policy's edits.
void CheckDataWire(const std::string& wire) {
  Check(wire.empty() || wire.size() >= 2);
  size_t start = 0;
  while (start < wire.size()) {
    const size_t end = wire.find("\r\n", start);
    Check(end != std::string::npos);
    const std::string_view line(wire.data() + start, end - start);
    Check(line.find_first_of("\r\n") == std::string_view::npos);
    Check(line != ".");
    start = end + 2;
  }
}

void Deliver(std::string raw) {
  CheckDataWire(raw);
  MessageData message(std::move(raw));
  std::vector<smtpbridge::v1::MessageEdit> edits(3);
  edits[0].mutable_add_header()->set_name("X-Fuzz");
  edits[0].mutable_add_header()->set_value("1");
  edits[1].mutable_quarantine()->set_reason("a\r\n.\r\nb");
  edits[2].mutable_change_header()->set_name("Subject");
  edits[2].mutable_change_header()->set_value(".");
  OutboundEnvelope envelope{"a@b.c", "", {{"d@e.f", ""}}};
  ApplyEdits(edits, &message, &envelope);
  CheckDataWire(message.Wire());
}

const ProxyConfig& Config() {
  static const ProxyConfig config = [] {
    ProxyConfig c;
    c.limits.max_recipients = 3;
    c.limits.max_message_size = 64;
    c.limits.max_errors = 1000;
    return c;
  }();
  return config;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  SessionState state(Config(), /*tls_available=*/true);
  LineReader reader(512);
  reader.Append(input);
  int next_hop = 250;
  bool rewrite = false;
  bool policy_answers = false;
  std::vector<smtpbridge::v1::MessageEdit> carried;
  while (auto line = reader.Next()) {
    if (line->too_long || line->bare_cr_or_lf) {
      state.CountError();
      continue;
    }
    const std::string_view text = line->text;
    if (text.size() == 2 && text[0] == '#') {
      switch (text[1]) {
        case '4':
          next_hop = 451;
          break;
        case '5':
          next_hop = 550;
          break;
        case 'r':
          rewrite = true;
          break;
        case 'p':
          policy_answers = true;
          break;
        case 'd':
          state.ApplyNextState(smtpbridge::v1::OUTBOUND_STATE_DATA_OR_BDAT);
          break;
        case 'e':
          state.ApplyNextState(smtpbridge::v1::OUTBOUND_STATE_SESSION_END);
          break;
        case 't':
          state.AfterTls();
          break;
        case 'b':
          state.AbandonBdat(false);
          break;
        default:
          break;
      }
      continue;
    }
    const Command cmd = ParseCommand(text);
    const bool was_greeted = state.greeted();
    const bool was_open = state.txn().open;
    const SessionState::Admission a = state.Admit(cmd);
    CheckWire(a.native);
    Check(a.evented || cmd.keyword.empty());
    Check(!a.reads_chunk || cmd.verb == Verb::kBdat);
    Check(!a.counted || a.refused || !a.evented);
    if (a.refused) Check(a.native.code >= 400);
    if (cmd.verb == Verb::kMail && was_greeted && was_open) Check(a.refused);
    if (policy_answers) {
      // RESPOND 250 on INBOUND_COMMAND: the command goes no further.
      policy_answers = false;
      state.AfterPolicyReply(cmd, MakeReply(250, "2.0.0", "policy"));
      continue;
    }
    if (a.refused) {
      if (a.counted) state.CountError();
      if (a.reads_chunk) state.AbandonBdat(cmd.last_chunk);
      continue;
    }
    const bool relayed = cmd.verb == Verb::kEhlo || cmd.verb == Verb::kHelo ||
                         cmd.verb == Verb::kMail || cmd.verb == Verb::kRcpt;
    if (relayed) Check(a.native.positive());
    SessionState::Relay relay{MakeReply(next_hop, "", "next hop"),
                              MakeReply(rewrite ? 550 : next_hop, "", "client"), rewrite};
    next_hop = 250;
    rewrite = false;
    switch (cmd.verb) {
      case Verb::kHelo:
      case Verb::kEhlo:
        state.BeginHelo();
        CheckWire(state.AfterHelo(a.native, relay));
        Check(state.greeted() == (relay.client.positive() && relay.upstream.positive()));
        break;
      case Verb::kMail:
        CheckWire(state.AfterMail(cmd, a.declared_size, relay, &carried));
        Check(state.txn().open == (relay.client.positive() && relay.upstream.positive()));
        Check(state.upstream_open() == relay.upstream.positive() || !relay.upstream.positive());
        break;
      case Verb::kRcpt:
        if (state.txn().skip_recipients) {
          state.AcceptRecipientLocally();
        } else {
          CheckWire(state.AfterRcpt(cmd, relay));
        }
        break;
      case Verb::kRset:
        state.ResetTransaction();
        state.UpstreamReset();
        break;
      case Verb::kData: {
        Check(state.txn().open && state.txn().client_recipients > 0);
        // The data phase, as HandleData reads it, up to "." or the end of the input.
        reader.set_limit(Config().limits.max_text_line);
        DataCollector collector(Config().limits.max_message_size);
        bool complete = false;
        while (auto data = reader.Next()) {
          if ((complete = collector.Add(*data))) break;
        }
        reader.set_limit(512);
        if (complete && !collector.Refusal()) Deliver(collector.Take());
        state.UpstreamReset();
        state.ResetTransaction();
        break;
      }
      case Verb::kBdat:
        Check(state.txn().open && state.txn().client_recipients > 0);
        state.bdat_buffer() +=
            reader.TakeRaw(static_cast<size_t>(std::min<uint64_t>(cmd.chunk_size, 4096)));
        if (cmd.last_chunk) {
          std::string message;
          message.swap(state.bdat_buffer());
          if (!ChunkedToData(&message)) Deliver(std::move(message));
          state.UpstreamReset();
          state.ResetTransaction();
        }
        break;
      default:
        break;
    }
    Check(state.txn().recipients.size() <= state.txn().client_recipients);
  }
  return 0;
}
