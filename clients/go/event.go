package smtpbridge

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	pb "github.com/smtpbridge/smtpbridge/clients/go/smtpbridgev1"
)

// EventContext is one protocol event as a handler sees it: the event, the binding that matched
// and its sink_properties (the same name in every SDK). Accessors never panic on missing parts of
// the message; they return zero values, so a handler needs no nil checks.
type EventContext struct {
	req         *pb.SinkRequest
	traceparent string
}

// Event is the former name of EventContext.
//
// Deprecated: use EventContext.
type Event = EventContext

// NewEvent wraps a SinkRequest; handy in tests of handlers.
func NewEvent(req *pb.SinkRequest) *EventContext {
	if req == nil {
		req = &pb.SinkRequest{}
	}
	return &EventContext{req: req}
}

// WithTraceparent is a copy of the event carrying this W3C traceparent (kept only when well
// formed); the worker sets it from the call's gRPC metadata, tests may set it by hand.
func (e *EventContext) WithTraceparent(tp string) *EventContext {
	c := *e
	c.traceparent = ""
	if traceparentPattern.MatchString(tp) {
		c.traceparent = tp
	}
	return &c
}

var traceparentPattern = regexp.MustCompile(`^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$`)

// Traceparent is the W3C trace context the dispatcher sent with this call (gRPC metadata
// "traceparent"), "" when absent or malformed.
func (e *EventContext) Traceparent() string { return e.traceparent }

// TraceID is the trace id part of Traceparent (32 hex digits), "" without one.
func (e *EventContext) TraceID() string {
	if e.traceparent == "" {
		return ""
	}
	return e.traceparent[3:35]
}

// Proto is the raw request, for anything the accessors don't cover.
func (e *EventContext) Proto() *pb.SinkRequest { return e.req }

// Type is the event type.
func (e *EventContext) Type() EventType { return e.req.GetEvent().GetType() }

// TypeName is the short event type name, e.g. "INBOUND_COMMAND".
func (e *EventContext) TypeName() string { return EventName(e.Type()) }

// ID is the event id, unique per event and present in logs on every hop.
func (e *EventContext) ID() string { return e.req.GetEvent().GetEventId() }

// Keyword is the upper-case command verb ("RCPT", "_EOD", ...); empty for events without one.
func (e *EventContext) Keyword() string { return e.req.GetEvent().GetCommand().GetKeyword() }

// Argument is everything after the verb, verbatim (e.g. "TO:<a@b> NOTIFY=NEVER").
func (e *EventContext) Argument() string { return e.req.GetEvent().GetCommand().GetArgument() }

// CommandLine is the whole command line without CRLF.
func (e *EventContext) CommandLine() string { return e.req.GetEvent().GetCommand().GetLine() }

// IsEndOfData reports whether this is the `_EOD` pseudo-command, which carries the message.
func (e *EventContext) IsEndOfData() bool {
	return e.Type() == InboundCommand && e.Keyword() == "_EOD"
}

// SessionID is stable across all events of one client session.
func (e *EventContext) SessionID() string { return e.req.GetEvent().GetSession().GetSessionId() }

// Instance is the SMTP virtual-server instance (>= 1).
func (e *EventContext) Instance() uint32 { return e.req.GetEvent().GetSession().GetInstance() }

// ClientAddress is the client's IP literal (or unix path); empty when unknown.
func (e *EventContext) ClientAddress() string {
	return e.req.GetEvent().GetSession().GetClient().GetAddress()
}

// ClientPort is the client's TCP port.
func (e *EventContext) ClientPort() uint32 {
	return e.req.GetEvent().GetSession().GetClient().GetPort()
}

// ClientHostname is the reverse-DNS name the host resolved; may be empty or "unknown".
func (e *EventContext) ClientHostname() string {
	return e.req.GetEvent().GetSession().GetClient().GetHostname()
}

// HeloName is the argument of the last EHLO/HELO.
func (e *EventContext) HeloName() string { return e.req.GetEvent().GetSession().GetHeloName() }

// TLSActive reports whether the client session is encrypted.
func (e *EventContext) TLSActive() bool { return e.req.GetEvent().GetSession().GetTls().GetActive() }

// AuthUser is the SMTP AUTH identity; empty when not authenticated.
func (e *EventContext) AuthUser() string {
	auth := e.req.GetEvent().GetSession().GetAuth()
	if !auth.GetAuthenticated() {
		return ""
	}
	return auth.GetUsername()
}

// Attribute is a host-specific attribute (milter macro, Postfix policy attribute).
func (e *EventContext) Attribute(name string) string {
	return e.req.GetEvent().GetSession().GetAttributes()[name]
}

// Sender is the MAIL FROM address without angle brackets; empty for the null sender.
func (e *EventContext) Sender() string { return e.req.GetEvent().GetEnvelope().GetSender() }

// HasSender reports whether MAIL FROM was accepted (tells "no transaction" from `<>`).
func (e *EventContext) HasSender() bool { return e.req.GetEvent().GetEnvelope().GetHasSender() }

// MailParameter is an ESMTP parameter of MAIL FROM (key case-insensitive), e.g. "SIZE".
func (e *EventContext) MailParameter(key string) string {
	return e.req.GetEvent().GetEnvelope().GetMailParameters()[strings.ToUpper(key)]
}

// Recipients are the recipients accepted so far, in order.
func (e *EventContext) Recipients() []string { return e.req.GetEvent().GetEnvelope().GetRecipients() }

// Recipient is the recipient a RCPT or PER_RECIPIENT event is about.
func (e *EventContext) Recipient() string { return e.req.GetEvent().GetEnvelope().GetRecipient() }

// RecipientIndex is the 0-based index of the recipient this event is about.
func (e *EventContext) RecipientIndex() int {
	return int(e.req.GetEvent().GetEnvelope().GetRecipientIndex())
}

// Headers are the message's header fields at `_EOD`; nil elsewhere.
func (e *EventContext) Headers() []*pb.Header { return e.req.GetEvent().GetMessage().GetHeaders() }

// Header is the value of the first header field with this name (case-insensitive).
func (e *EventContext) Header(name string) (string, bool) {
	for _, h := range e.Headers() {
		if strings.EqualFold(h.GetName(), name) {
			return h.GetValue(), true
		}
	}
	return "", false
}

// Body is the message body at `_EOD`, up to the binding's body limit.
func (e *EventContext) Body() []byte { return e.req.GetEvent().GetMessage().GetBody() }

// BodyTruncated reports whether Body is shorter than the real body.
func (e *EventContext) BodyTruncated() bool { return e.req.GetEvent().GetMessage().GetBodyTruncated() }

// Response is the native reply the host will give (inbound) or the reply the next hop gave
// (SERVER_RESPONSE); nil when the event has none.
func (e *EventContext) Response() *pb.SmtpReply { return e.req.GetEvent().GetResponse() }

// NextState is, for SERVER_RESPONSE, the outbound state the host goes to next.
func (e *EventContext) NextState() OutboundState { return e.req.GetEvent().GetNextState() }

// Budget is the event's end-to-end latency budget.
func (e *EventContext) Budget() time.Duration { return e.req.GetEvent().GetBudget().AsDuration() }

// TimeLeft is what was left of this binding's time when the dispatcher sent the call.
func (e *EventContext) TimeLeft() time.Duration { return e.req.GetTimeLeft().AsDuration() }

// BindingName is the name of the binding that matched.
func (e *EventContext) BindingName() string { return e.req.GetBinding().GetName() }

// Property is one of the binding's sink_properties; empty when absent.
func (e *EventContext) Property(key string) string {
	return e.req.GetBinding().GetSinkProperties()[key]
}

// LookupProperty is Property that also says whether the key is present.
func (e *EventContext) LookupProperty(key string) (string, bool) {
	v, ok := e.req.GetBinding().GetSinkProperties()[key]
	return v, ok
}

// PropertyList splits a property on commas, trimming blanks and dropping empty items.
func (e *EventContext) PropertyList(key string) []string {
	var out []string
	for _, item := range strings.Split(e.Property(key), ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// PropertyInt reads an integer property: fallback when absent, an error naming the key when it
// is not an integer.
func (e *EventContext) PropertyInt(key string, fallback int) (int, error) {
	text, ok := e.LookupProperty(key)
	if !ok || strings.TrimSpace(text) == "" {
		return fallback, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(text))
	if err != nil {
		return fallback, fmt.Errorf("smtpbridge: sink property %s=%q is not an integer", key, text)
	}
	return n, nil
}

// Properties is the whole sink_properties bag (do not modify).
func (e *EventContext) Properties() map[string]string { return e.req.GetBinding().GetSinkProperties() }
