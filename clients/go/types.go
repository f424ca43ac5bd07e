package smtpbridge

import (
	"strings"

	pb "github.com/smtpbridge/smtpbridge/clients/go/smtpbridgev1"
)

// EventType says which protocol event fired (the SMTP Server Events sink interfaces).
type EventType = pb.EventType

// The event types, without the proto's EVENT_TYPE_ prefix.
const (
	InboundCommand  EventType = pb.EventType_EVENT_TYPE_INBOUND_COMMAND
	SessionStart    EventType = pb.EventType_EVENT_TYPE_SESSION_START
	MessageStart    EventType = pb.EventType_EVENT_TYPE_MESSAGE_START
	PerRecipient    EventType = pb.EventType_EVENT_TYPE_PER_RECIPIENT
	BeforeData      EventType = pb.EventType_EVENT_TYPE_BEFORE_DATA
	SessionEnd      EventType = pb.EventType_EVENT_TYPE_SESSION_END
	OutboundCommand EventType = pb.EventType_EVENT_TYPE_OUTBOUND_COMMAND
	ServerResponse  EventType = pb.EventType_EVENT_TYPE_SERVER_RESPONSE
	Connect         EventType = pb.EventType_EVENT_TYPE_CONNECT
)

// AllEventTypes lists every event type, in proto order.
var AllEventTypes = []EventType{
	InboundCommand, SessionStart, MessageStart, PerRecipient, BeforeData,
	SessionEnd, OutboundCommand, ServerResponse, Connect,
}

// EventName is the short name of an event type, e.g. "INBOUND_COMMAND".
func EventName(t EventType) string {
	return strings.TrimPrefix(t.String(), "EVENT_TYPE_")
}

// ParseEventType accepts "INBOUND_COMMAND", "inbound_command" or "EVENT_TYPE_INBOUND_COMMAND".
func ParseEventType(name string) (EventType, bool) {
	upper := strings.ToUpper(strings.TrimSpace(name))
	if !strings.HasPrefix(upper, "EVENT_TYPE_") {
		upper = "EVENT_TYPE_" + upper
	}
	v, ok := pb.EventType_value[upper]
	if !ok || v == 0 {
		return 0, false
	}
	return EventType(v), true
}

// CacheScope says which later events a cached verdict answers for.
type CacheScope = pb.CacheScope

const (
	// ScopeCommand: the same command keyword and argument, from any client (the proto default).
	ScopeCommand       CacheScope = pb.CacheScope_CACHE_SCOPE_UNSPECIFIED
	ScopeClientAddress CacheScope = pb.CacheScope_CACHE_SCOPE_CLIENT_ADDRESS
	ScopeSender        CacheScope = pb.CacheScope_CACHE_SCOPE_SENDER
	ScopeRecipient     CacheScope = pb.CacheScope_CACHE_SCOPE_RECIPIENT
	ScopeSession       CacheScope = pb.CacheScope_CACHE_SCOPE_SESSION
)

// OutboundState is where a proxy session goes next (SEO's SetNextEventState).
type OutboundState = pb.OutboundState

const (
	StateDefault      OutboundState = pb.OutboundState_OUTBOUND_STATE_UNSPECIFIED
	StateSessionStart OutboundState = pb.OutboundState_OUTBOUND_STATE_SESSION_START
	StateMessageStart OutboundState = pb.OutboundState_OUTBOUND_STATE_MESSAGE_START
	StatePerRecipient OutboundState = pb.OutboundState_OUTBOUND_STATE_PER_RECIPIENT
	StateDataOrBdat   OutboundState = pb.OutboundState_OUTBOUND_STATE_DATA_OR_BDAT
	StateSessionEnd   OutboundState = pb.OutboundState_OUTBOUND_STATE_SESSION_END
)

// Action is what a verdict does with the event.
type Action = pb.Action
