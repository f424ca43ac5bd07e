package smtpbridge

import (
	"fmt"
	"regexp"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/smtpbridge/smtpbridge/clients/go/smtpbridgev1"
)

// Verdict is a chainable builder for the answer to one event:
//
//	smtpbridge.Reject(550, "5.7.1", "no thanks").Reason("blocklisted").Tag("spam")
//	smtpbridge.Continue().AddHeader("X-Scanned", "yes").CacheFor(time.Minute, smtpbridge.ScopeSender)
//
// Builder methods modify and return the same Verdict. A nil *Verdict returned by a handler means
// Continue. Every method checks its arguments and panics with a *VerdictError for what the host
// could not send (see VerdictError).
type Verdict struct {
	v *pb.Verdict
}

func newVerdict(action pb.Action) *Verdict {
	return &Verdict{v: &pb.Verdict{Action: action}}
}

func reply(code int, enhanced string, lines []string) *pb.SmtpReply {
	return &pb.SmtpReply{Code: uint32(code), EnhancedCode: enhanced, Lines: lines}
}

// withOptionalReply sets the reply unless code is 0, which leaves the default to the host.
func (v *Verdict) withOptionalReply(code int, enhanced string, lines []string) *Verdict {
	if code != 0 {
		v.WithReply(code, enhanced, lines...)
	}
	return v
}

// Continue lets the host proceed (S_OK); rewrites, edits and tags still apply.
func Continue() *Verdict { return newVerdict(pb.Action_ACTION_CONTINUE) }

// Respond answers the client with this reply and consumes the command (EXPE_S_CONSUMED).
// Any reply class is allowed, e.g. a 250 that swallows a command.
func Respond(code int, enhanced string, lines ...string) *Verdict {
	return newVerdict(pb.Action_ACTION_RESPOND).withOptionalReply(code, enhanced, lines)
}

// Reject fails the command permanently with a 5xx reply; code 0 leaves the default 550 5.7.1.
func Reject(code int, enhanced string, lines ...string) *Verdict {
	return newVerdict(pb.Action_ACTION_REJECT).withOptionalReply(code, enhanced, lines)
}

// Tempfail fails the command transiently with a 4xx reply; code 0 leaves the default 451 4.7.1.
func Tempfail(code int, enhanced string, lines ...string) *Verdict {
	return newVerdict(pb.Action_ACTION_TEMPFAIL).withOptionalReply(code, enhanced, lines)
}

// DropSession says 421 (or this 421 reply; code 0 for the default) and closes the session.
func DropSession(code int, enhanced string, lines ...string) *Verdict {
	return newVerdict(pb.Action_ACTION_DROP_SESSION).withOptionalReply(code, enhanced, lines)
}

// SkipRecipient (PER_RECIPIENT) keeps this recipient from the next hop.
func SkipRecipient() *Verdict { return newVerdict(pb.Action_ACTION_SKIP_RECIPIENT) }

// WithReply sets the reply; on a CONTINUE for SERVER_RESPONSE it replaces the reply relayed to
// the client.
func (v *Verdict) WithReply(code int, enhanced string, lines ...string) *Verdict {
	r := reply(code, enhanced, lines)
	if code < 0 {
		r.Code = 0
	}
	if problem := replyProblem(v.v.GetAction(), r); problem != "" {
		invalid("%s", problem)
	}
	v.v.Reply = r
	return v
}

// WithCommand replaces the outbound command line (SEO SetCommand), without CRLF.
func (v *Verdict) WithCommand(line string) *Verdict {
	checkNoLineBreak("command", line)
	v.rewrite().SetCommand = line
	return v
}

// AppendCommand appends to the outbound command line (SEO AppendCommand), e.g. " NOTIFY=NEVER".
func (v *Verdict) AppendCommand(text string) *Verdict {
	checkNoLineBreak("command", text)
	v.rewrite().Append = text
	return v
}

func (v *Verdict) rewrite() *pb.CommandRewrite {
	if v.v.Command == nil {
		v.v.Command = &pb.CommandRewrite{}
	}
	return v.v.Command
}

// WithNextState sets the host's next outbound state (SEO SetNextEventState).
func (v *Verdict) WithNextState(state OutboundState) *Verdict {
	v.v.NextState = state
	return v
}

func (v *Verdict) edit(e *pb.MessageEdit) *Verdict {
	v.v.Edits = append(v.v.Edits, e)
	return v
}

// AddHeader appends a header field at `_EOD` (name: an RFC 5322 field name; value: no CR/LF).
func (v *Verdict) AddHeader(name, value string) *Verdict {
	checkHeader(name, value)
	return v.edit(&pb.MessageEdit{Edit: &pb.MessageEdit_AddHeader{AddHeader: &pb.AddHeader{Name: name, Value: value}}})
}

// InsertHeader inserts a header field at a 0-based position (0 = top).
func (v *Verdict) InsertHeader(index int, name, value string) *Verdict {
	checkHeader(name, value)
	if index < 0 {
		invalid("header index %d is negative", index)
	}
	return v.edit(&pb.MessageEdit{Edit: &pb.MessageEdit_InsertHeader{InsertHeader: &pb.InsertHeader{
		Index: uint32(index), Name: name, Value: value}}})
}

// ChangeHeader sets the value of the occurrence-th (1-based; 0 = first) field with this name.
func (v *Verdict) ChangeHeader(name string, occurrence int, value string) *Verdict {
	checkHeader(name, value)
	if occurrence < 0 {
		invalid("occurrence %d is negative", occurrence)
	}
	return v.edit(&pb.MessageEdit{Edit: &pb.MessageEdit_ChangeHeader{ChangeHeader: &pb.ChangeHeader{
		Name: name, Occurrence: uint32(occurrence), Value: value}}})
}

// DeleteHeader removes the occurrence-th field with this name (a ChangeHeader to empty).
func (v *Verdict) DeleteHeader(name string, occurrence int) *Verdict {
	return v.ChangeHeader(name, occurrence, "")
}

// ChangeSender replaces the envelope sender; parameters are ESMTP parameters, may be empty.
func (v *Verdict) ChangeSender(address, parameters string) *Verdict {
	checkNoLineBreak("sender", address+parameters)
	return v.edit(&pb.MessageEdit{Edit: &pb.MessageEdit_ChangeSender{ChangeSender: &pb.ChangeSender{
		Address: address, Parameters: parameters}}})
}

// AddRecipient adds an envelope recipient.
func (v *Verdict) AddRecipient(address, parameters string) *Verdict {
	checkNoLineBreak("recipient", address+parameters)
	return v.edit(&pb.MessageEdit{Edit: &pb.MessageEdit_AddRecipient{AddRecipient: &pb.AddRecipient{
		Address: address, Parameters: parameters}}})
}

// DeleteRecipient removes an envelope recipient.
func (v *Verdict) DeleteRecipient(address string) *Verdict {
	checkNoLineBreak("recipient", address)
	return v.edit(&pb.MessageEdit{Edit: &pb.MessageEdit_DeleteRecipient{DeleteRecipient: &pb.DeleteRecipient{
		Address: address}}})
}

// Quarantine holds the message with a reason.
func (v *Verdict) Quarantine(reason string) *Verdict {
	checkNoLineBreak("quarantine reason", reason)
	return v.edit(&pb.MessageEdit{Edit: &pb.MessageEdit_Quarantine{Quarantine: &pb.Quarantine{Reason: reason}}})
}

// Discard accepts the message towards the client, then silently drops it.
func (v *Verdict) Discard() *Verdict {
	return v.edit(&pb.MessageEdit{Edit: &pb.MessageEdit_Discard{Discard: &pb.Discard{}}})
}

// ReplaceBody replaces the message body (CRLF line ends, no dot-stuffing).
func (v *Verdict) ReplaceBody(body []byte) *Verdict {
	return v.edit(&pb.MessageEdit{Edit: &pb.MessageEdit_ReplaceBody{ReplaceBody: &pb.ReplaceBody{Body: body}}})
}

// CacheFor lets the dispatcher reuse this verdict for ttl for events equivalent under scope.
func (v *Verdict) CacheFor(ttl time.Duration, scope CacheScope) *Verdict {
	if ttl < 0 {
		invalid("cache ttl %v is negative", ttl)
	}
	v.v.CacheTtl = durationpb.New(ttl)
	v.v.CacheScope = scope
	return v
}

// Reason sets free text for logs and the test-event output.
func (v *Verdict) Reason(text string) *Verdict {
	v.v.Reason = text
	return v
}

// Reasonf is Reason with fmt.Sprintf formatting.
func (v *Verdict) Reasonf(format string, args ...any) *Verdict {
	return v.Reason(fmt.Sprintf(format, args...))
}

// Tag adds labels for metrics and logs, e.g. "spam".
func (v *Verdict) Tag(tags ...string) *Verdict {
	v.v.Tags = append(v.v.Tags, tags...)
	return v
}

// Action is the verdict's action.
func (v *Verdict) Action() Action { return v.v.GetAction() }

// Proto is the wire form. Returned as is, not copied.
func (v *Verdict) Proto() *pb.Verdict { return v.v }

var enhancedCodePattern = regexp.MustCompile(`^[245]\.\d{1,3}\.\d{1,3}$`)

// Validate reports a reply the host could not send (the checks WithReply makes), for verdicts
// whose proto was changed after building. The worker checks every verdict before sending it.
func (v *Verdict) Validate() error {
	if r := v.v.GetReply(); r != nil {
		if problem := replyProblem(v.v.GetAction(), r); problem != "" {
			return &VerdictError{Msg: problem}
		}
	}
	return nil
}
