package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	smtpbridge "github.com/smtpbridge/smtpbridge/clients/go"
)

// errRequested is what a handler returns when the binding says fail=1.
var errRequested = errors.New("conformance: failure requested by the binding (fail=1)")

// decide builds the verdict the binding's sink_properties describe (tests/vectors/SPEC.md),
// through the SDK's own builder.
func decide(_ context.Context, ev *smtpbridge.EventContext) (*smtpbridge.Verdict, error) {
	if ev.Property("fail") == "1" {
		return nil, errRequested
	}
	v, err := baseVerdict(ev)
	if err != nil {
		return nil, err
	}
	if cmd, ok := ev.LookupProperty("set_command"); ok {
		v.WithCommand(cmd)
	}
	if app, ok := ev.LookupProperty("append"); ok {
		v.AppendCommand(app)
	}
	if name := ev.Property("next_state"); name != "" {
		state, ok := outboundStates[strings.ToUpper(name)]
		if !ok {
			return nil, fmt.Errorf("conformance: unknown next_state %q", name)
		}
		v.WithNextState(state)
	}
	if err := applyEdits(v, ev.Property("edits")); err != nil {
		return nil, err
	}
	if ttl := ev.Property("cache_ttl_ms"); ttl != "" {
		ms, err := strconv.ParseInt(ttl, 10, 64)
		if err != nil || ms < 0 {
			return nil, fmt.Errorf("conformance: cache_ttl_ms %q is not a non-negative integer", ttl)
		}
		scope, ok := cacheScopes[strings.ToLower(ev.Property("cache_scope"))]
		if !ok {
			return nil, fmt.Errorf("conformance: unknown cache_scope %q", ev.Property("cache_scope"))
		}
		v.CacheFor(time.Duration(ms)*time.Millisecond, scope)
	}
	if tags := ev.PropertyList("tags"); len(tags) > 0 {
		v.Tag(tags...)
	}
	switch reason := ev.Property("reason"); reason {
	case "":
	case "@echo":
		v.Reason(echo(ev))
	default:
		v.Reason(reason)
	}
	return v, nil
}

var outboundStates = map[string]smtpbridge.OutboundState{
	"SESSION_START": smtpbridge.StateSessionStart,
	"MESSAGE_START": smtpbridge.StateMessageStart,
	"PER_RECIPIENT": smtpbridge.StatePerRecipient,
	"DATA_OR_BDAT":  smtpbridge.StateDataOrBdat,
	"SESSION_END":   smtpbridge.StateSessionEnd,
}

var cacheScopes = map[string]smtpbridge.CacheScope{
	"":               smtpbridge.ScopeCommand,
	"command":        smtpbridge.ScopeCommand,
	"client_address": smtpbridge.ScopeClientAddress,
	"sender":         smtpbridge.ScopeSender,
	"recipient":      smtpbridge.ScopeRecipient,
	"session":        smtpbridge.ScopeSession,
}

func baseVerdict(ev *smtpbridge.EventContext) (*smtpbridge.Verdict, error) {
	code, enhanced, lines, hasReply, err := parseReply(ev.Property("reply"))
	if err != nil {
		return nil, err
	}
	switch kind := ev.Property("verdict"); kind {
	case "", "continue":
		v := smtpbridge.Continue()
		if hasReply {
			v.WithReply(code, enhanced, lines...)
		}
		return v, nil
	case "respond":
		return smtpbridge.Respond(code, enhanced, lines...), nil
	case "reject":
		return smtpbridge.Reject(code, enhanced, lines...), nil
	case "tempfail":
		return smtpbridge.Tempfail(code, enhanced, lines...), nil
	case "drop_session":
		return smtpbridge.DropSession(code, enhanced, lines...), nil
	case "skip_recipient":
		v := smtpbridge.SkipRecipient()
		if hasReply {
			v.WithReply(code, enhanced, lines...)
		}
		return v, nil
	default:
		return nil, fmt.Errorf("conformance: unknown verdict %q", kind)
	}
}

var enhancedCode = regexp.MustCompile(`^\d\.\d{1,3}\.\d{1,3}$`)

// parseReply reads "CODE[ ENHANCED] text", lines separated by "|".
func parseReply(spec string) (code int, enhanced string, lines []string, ok bool, err error) {
	if spec == "" {
		return 0, "", nil, false, nil
	}
	codeText, rest, _ := strings.Cut(spec, " ")
	code, err = strconv.Atoi(codeText)
	if err != nil || len(codeText) != 3 {
		return 0, "", nil, false, fmt.Errorf("conformance: reply %q does not start with a 3-digit code", spec)
	}
	if first, after, _ := strings.Cut(rest, " "); enhancedCode.MatchString(first) {
		enhanced, rest = first, after
	}
	if rest != "" {
		lines = strings.Split(rest, "|")
	}
	return code, enhanced, lines, true, nil
}

// applyEdits reads the ";"-separated edit ops in order.
func applyEdits(v *smtpbridge.Verdict, spec string) error {
	if spec == "" {
		return nil
	}
	for _, op := range strings.Split(spec, ";") {
		name, arg, _ := strings.Cut(op, ":")
		switch name {
		case "add_header":
			hname, value, ok := strings.Cut(arg, ":")
			if !ok {
				return fmt.Errorf("conformance: edit %q: want add_header:Name:Value", op)
			}
			v.AddHeader(hname, value)
		case "insert_header":
			parts := strings.SplitN(arg, ":", 3)
			if len(parts) != 3 {
				return fmt.Errorf("conformance: edit %q: want insert_header:INDEX:Name:Value", op)
			}
			index, err := strconv.Atoi(parts[0])
			if err != nil || index < 0 {
				return fmt.Errorf("conformance: edit %q: bad index", op)
			}
			v.InsertHeader(index, parts[1], parts[2])
		case "change_header":
			parts := strings.SplitN(arg, ":", 3)
			if len(parts) != 3 {
				return fmt.Errorf("conformance: edit %q: want change_header:Name:OCCURRENCE:Value", op)
			}
			occurrence, err := strconv.Atoi(parts[1])
			if err != nil || occurrence < 0 {
				return fmt.Errorf("conformance: edit %q: bad occurrence", op)
			}
			v.ChangeHeader(parts[0], occurrence, parts[2])
		case "change_sender":
			v.ChangeSender(arg, "")
		case "add_recipient":
			v.AddRecipient(arg, "")
		case "delete_recipient":
			v.DeleteRecipient(arg)
		case "quarantine":
			v.Quarantine(arg)
		case "discard":
			v.Discard()
		case "replace_body":
			v.ReplaceBody([]byte(arg))
		default:
			return fmt.Errorf("conformance: unknown edit %q", op)
		}
	}
	return nil
}

// echo is the canonical description of the event as this SDK exposes it (the reason "@echo").
func echo(ev *smtpbridge.EventContext) string {
	return fmt.Sprintf("type=%s;keyword=%s;arg=%s;sender=%s;rcpt=%s;rcpts=%d;client=%s;helo=%s;headers=%d;body=%d;binding=%s;instance=%d",
		ev.TypeName(), ev.Keyword(), ev.Argument(), ev.Sender(), ev.Recipient(), len(ev.Recipients()),
		ev.ClientAddress(), ev.HeloName(), len(ev.Headers()), len(ev.Body()), ev.BindingName(), ev.Instance())
}
