package smtpbridge

import (
	"fmt"
	"regexp"
	"strings"

	pb "github.com/smtpbridge/smtpbridge/clients/go/smtpbridgev1"
)

// VerdictError is what the Verdict builder panics with when asked for something the host could
// not send: a reply class the action cannot carry (a 2xx Reject), a malformed enhanced code,
// CR/LF in reply text, a command, an address or a header value, a header name that is not an
// RFC 5322 field name. It panics, as regexp.MustCompile does, so the mistake fails the author's
// own unit test; in a running worker the panic is recovered, logged with its stack and answered
// as INTERNAL, so the binding's on_error applies.
type VerdictError struct{ Msg string }

func (e *VerdictError) Error() string { return "smtpbridge: invalid verdict: " + e.Msg }

func invalid(format string, args ...any) { panic(&VerdictError{Msg: fmt.Sprintf(format, args...)}) }

// RFC 5322 field-name: printable US-ASCII except the colon.
var fieldNamePattern = regexp.MustCompile("^[\x21-\x39\x3b-\x7e]+$")

func checkNoLineBreak(what, text string) {
	if strings.ContainsAny(text, "\r\n\x00") {
		invalid("%s must not contain CR, LF or NUL: %q", what, text)
	}
}

func checkHeader(name, value string) {
	if !fieldNamePattern.MatchString(name) {
		invalid("header name %q is not an RFC 5322 field name (printable ASCII, no colon or space)", name)
	}
	checkNoLineBreak("header "+name+" value", value)
}

// replyProblem says why the host could not send this reply for this action ("" when it can).
func replyProblem(action pb.Action, r *pb.SmtpReply) string {
	code := r.GetCode()
	if code < 200 || code > 599 {
		return fmt.Sprintf("reply code %d is not in 200..599", code)
	}
	class := code / 100
	switch action {
	case pb.Action_ACTION_REJECT:
		if class != 5 {
			return fmt.Sprintf("reject needs a 5xx reply, got %d", code)
		}
	case pb.Action_ACTION_TEMPFAIL:
		if class != 4 {
			return fmt.Sprintf("tempfail needs a 4xx reply, got %d", code)
		}
	case pb.Action_ACTION_DROP_SESSION:
		if class != 4 && class != 5 {
			return fmt.Sprintf("drop session needs a 4xx or 5xx reply, got %d", code)
		}
	case pb.Action_ACTION_SKIP_RECIPIENT:
		return "skip recipient takes no reply"
	}
	if enh := r.GetEnhancedCode(); enh != "" {
		if !enhancedCodePattern.MatchString(enh) || uint32(enh[0]-'0') != class {
			return fmt.Sprintf("enhanced code %q does not fit reply code %d", enh, code)
		}
	}
	for _, line := range r.GetLines() {
		if strings.ContainsAny(line, "\r\n\x00") {
			return fmt.Sprintf("reply text must not contain CR, LF or NUL: %q", line)
		}
	}
	return ""
}
