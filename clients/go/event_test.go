package smtpbridge

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/smtpbridge/smtpbridge/clients/go/smtpbridgev1"
)

func TestEventAccessorsOnAnEmptyRequestReturnZeroValues(t *testing.T) {
	for _, ev := range []*EventContext{NewEvent(nil), NewEvent(&pb.SinkRequest{})} {
		if ev.Type() != pb.EventType_EVENT_TYPE_UNSPECIFIED || ev.Keyword() != "" || ev.Recipient() != "" ||
			ev.Property("x") != "" || len(ev.Headers()) != 0 || ev.Body() != nil || ev.TimeLeft() != 0 ||
			ev.AuthUser() != "" || ev.Response() != nil || ev.IsEndOfData() {
			t.Fatalf("non-zero accessor on an empty event")
		}
		if _, ok := ev.Header("Subject"); ok {
			t.Fatal("Header found a field in an empty event")
		}
	}
}

func TestEventAccessorsReadTheRequest(t *testing.T) {
	req := &pb.SinkRequest{
		Event: &pb.Event{
			EventId: "e1",
			Type:    pb.EventType_EVENT_TYPE_INBOUND_COMMAND,
			Session: &pb.SessionContext{
				SessionId: "s1", Instance: 2, HeloName: "mx.example",
				Client:     &pb.Endpoint{Address: "192.0.2.1", Port: 4000, Hostname: "c.example"},
				Auth:       &pb.AuthState{Authenticated: true, Username: "alice"},
				Tls:        &pb.TlsState{Active: true},
				Attributes: map[string]string{"queue_id": "Q1"},
			},
			Envelope: &pb.Envelope{Sender: "a@x", HasSender: true, Recipients: []string{"b@y", "c@y"},
				MailParameters: map[string]string{"SIZE": "10"}},
			Command: &pb.Command{Keyword: "_EOD", Line: "_EOD"},
			Message: &pb.Message{Headers: []*pb.Header{{Name: "Subject", Value: "hi"}, {Name: "subject", Value: "again"}},
				Body: []byte("hello\r\n"), BodyTruncated: true},
		},
		Binding:  &pb.Binding{Name: "b1", SinkProperties: map[string]string{"list": " a, ,b ,", "k": "v", "n": " 42 "}},
		TimeLeft: durationpb.New(20 * time.Millisecond),
	}
	ev := NewEvent(req)
	checks := map[string]bool{
		"type":      ev.Type() == InboundCommand && ev.TypeName() == "INBOUND_COMMAND",
		"eod":       ev.IsEndOfData(),
		"session":   ev.SessionID() == "s1" && ev.Instance() == 2 && ev.HeloName() == "mx.example",
		"client":    ev.ClientAddress() == "192.0.2.1" && ev.ClientPort() == 4000 && ev.ClientHostname() == "c.example",
		"auth tls":  ev.AuthUser() == "alice" && ev.TLSActive(),
		"attribute": ev.Attribute("queue_id") == "Q1",
		"envelope":  ev.Sender() == "a@x" && ev.HasSender() && len(ev.Recipients()) == 2 && ev.MailParameter("size") == "10",
		"body":      string(ev.Body()) == "hello\r\n" && ev.BodyTruncated(),
		"time left": ev.TimeLeft() == 20*time.Millisecond,
		"binding":   ev.BindingName() == "b1" && ev.Property("k") == "v",
		"list":      len(ev.PropertyList("list")) == 2 && ev.PropertyList("list")[1] == "b",
	}
	for name, ok := range checks {
		if !ok {
			t.Errorf("%s accessor wrong", name)
		}
	}
	if v, ok := ev.Header("SUBJECT"); !ok || v != "hi" {
		t.Errorf("Header(SUBJECT) = %q, %v; want the first field", v, ok)
	}
	if n, err := ev.PropertyInt("missing", 7); n != 7 || err != nil {
		t.Errorf("PropertyInt(missing) = %d, %v", n, err)
	}
	if n, err := ev.PropertyInt("n", 0); n != 42 || err != nil {
		t.Errorf("PropertyInt(n) = %d, %v", n, err)
	}
	if _, err := ev.PropertyInt("k", 0); err == nil {
		t.Error("PropertyInt accepted a non-integer")
	}
	if _, ok := ev.LookupProperty("missing"); ok {
		t.Error("LookupProperty found a missing key")
	}
}

func TestParseEventTypeAcceptsShortAndFullNames(t *testing.T) {
	for _, name := range []string{"RCPT", "", "EVENT_TYPE_UNSPECIFIED"} {
		if _, ok := ParseEventType(name); ok {
			t.Errorf("ParseEventType(%q) accepted", name)
		}
	}
	for _, et := range AllEventTypes {
		for _, name := range []string{EventName(et), et.String()} {
			if got, ok := ParseEventType(name); !ok || got != et {
				t.Errorf("ParseEventType(%q) = %v, %v", name, got, ok)
			}
		}
	}
}
