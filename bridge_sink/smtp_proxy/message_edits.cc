#include "message_edits.h"

#include <algorithm>
#include <cctype>

#include "command_parser.h"
#include "smtpbridge/v1/smtp_text.h"

namespace smtpbridge::proxy {

namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// One edit; false with `why` when it is refused.
bool ApplyOne(const v1::MessageEdit& edit, MessageData* message, OutboundEnvelope* envelope,
              bool* discard, std::string* why) {
  switch (edit.edit_case()) {
    case v1::MessageEdit::kAddHeader:
      return message->AddHeader(edit.add_header().name(), edit.add_header().value(), why);
    case v1::MessageEdit::kInsertHeader:
      return message->InsertHeader(edit.insert_header().index(), edit.insert_header().name(),
                                   edit.insert_header().value(), why);
    case v1::MessageEdit::kChangeHeader:
      return message->ChangeHeader(edit.change_header().name(), edit.change_header().occurrence(),
                                   edit.change_header().value(), why);
    case v1::MessageEdit::kChangeSender: {
      // A path with '>' or a space would smuggle ESMTP parameters into MAIL FROM (#14).
      if (!edit.change_sender().address().empty() &&
          !v1::IsMailbox(edit.change_sender().address())) {
        *why = "change_sender address is not an RFC 5321 mailbox";
        return false;
      }
      if (!v1::IsEsmtpParameters(edit.change_sender().parameters())) {
        *why = "change_sender parameters are not KEY[=VALUE] ...";
        return false;
      }
      Command parsed = ParseCommand("MAIL FROM:<" + edit.change_sender().address() + "> " +
                                    edit.change_sender().parameters());
      if (parsed.error) {
        *why = "invalid sender";
        return false;
      }
      envelope->sender = parsed.address;
      envelope->sender_params = FormatParameters(parsed.parameters);
      return true;
    }
    case v1::MessageEdit::kAddRecipient: {
      if (!v1::IsMailbox(edit.add_recipient().address()) ||
          !v1::IsEsmtpParameters(edit.add_recipient().parameters())) {
        *why = "add_recipient address is not an RFC 5321 mailbox, or its parameters are malformed";
        return false;
      }
      Command parsed = ParseCommand("RCPT TO:<" + edit.add_recipient().address() + "> " +
                                    edit.add_recipient().parameters());
      if (parsed.error) {
        *why = "invalid recipient";
        return false;
      }
      envelope->recipients.emplace_back(parsed.address, FormatParameters(parsed.parameters));
      return true;
    }
    case v1::MessageEdit::kDeleteRecipient:
      std::erase_if(envelope->recipients, [&](const auto& r) {
        return EqualsIgnoreCase(r.first, edit.delete_recipient().address());
      });
      return true;
    case v1::MessageEdit::kQuarantine:
      // A proxy has no queue to hold mail in: it marks the message for the next hop.
      // The reason is made one line: a CR/LF in it must not cancel the quarantine.
      return message->AddHeader(
          "X-Smtpbridge-Quarantine",
          edit.quarantine().reason().empty() ? "policy" : v1::OneLine(edit.quarantine().reason()),
          why);
    case v1::MessageEdit::kDiscard:
      *discard = true;
      return true;
    case v1::MessageEdit::kReplaceBody:
      message->ReplaceBody(edit.replace_body().body());
      return true;
    default:
      return true;
  }
}

}  // namespace

EditsOutcome ApplyEdits(const std::vector<v1::MessageEdit>& edits, MessageData* message,
                        OutboundEnvelope* envelope) {
  EditsOutcome outcome;
  for (const auto& edit : edits) {
    std::string why;
    if (!ApplyOne(edit, message, envelope, &outcome.discard, &why))
      outcome.refused.push_back(std::move(why));
  }
  return outcome;
}

}  // namespace smtpbridge::proxy
