package main

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	smtpbridge "github.com/smtpbridge/smtpbridge/clients/go"
	pb "github.com/smtpbridge/smtpbridge/clients/go/smtpbridgev1"
)

func eventWith(props map[string]string) *smtpbridge.EventContext {
	return smtpbridge.NewEvent(&pb.SinkRequest{
		Event: &pb.Event{
			Type:     pb.EventType_EVENT_TYPE_INBOUND_COMMAND,
			Command:  &pb.Command{Keyword: "RCPT", Argument: "TO:<b@y>"},
			Session:  &pb.SessionContext{Instance: 1, HeloName: "h.example", Client: &pb.Endpoint{Address: "192.0.2.7"}},
			Envelope: &pb.Envelope{Sender: "a@x", Recipient: "b@y", Recipients: []string{"c@y"}},
		},
		Binding: &pb.Binding{Name: "conf", SinkProperties: props},
	})
}

func TestDecideBuildsEveryPartFromProperties(t *testing.T) {
	v, err := decide(context.Background(), eventWith(map[string]string{
		"verdict": "reject", "reply": "550 5.7.1 no|thanks", "set_command": "RCPT TO:<z@y>", "append": " X=1",
		"next_state": "session_end", "edits": "add_header:X-A:1:2;insert_header:0:X-B:v;change_header:Subject:2:;discard",
		"cache_ttl_ms": "1500", "cache_scope": "recipient", "tags": "a,b", "reason": "literal",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := &pb.Verdict{
		Action:    pb.Action_ACTION_REJECT,
		Reply:     &pb.SmtpReply{Code: 550, EnhancedCode: "5.7.1", Lines: []string{"no", "thanks"}},
		Command:   &pb.CommandRewrite{SetCommand: "RCPT TO:<z@y>", Append: " X=1"},
		NextState: pb.OutboundState_OUTBOUND_STATE_SESSION_END,
		Edits: []*pb.MessageEdit{
			{Edit: &pb.MessageEdit_AddHeader{AddHeader: &pb.AddHeader{Name: "X-A", Value: "1:2"}}},
			{Edit: &pb.MessageEdit_InsertHeader{InsertHeader: &pb.InsertHeader{Name: "X-B", Value: "v"}}},
			{Edit: &pb.MessageEdit_ChangeHeader{ChangeHeader: &pb.ChangeHeader{Name: "Subject", Occurrence: 2}}},
			{Edit: &pb.MessageEdit_Discard{Discard: &pb.Discard{}}},
		},
		CacheTtl:   durationpb.New(1500 * time.Millisecond),
		CacheScope: pb.CacheScope_CACHE_SCOPE_RECIPIENT,
		Reason:     "literal",
		Tags:       []string{"a", "b"},
	}
	if !proto.Equal(v.Proto(), want) {
		t.Fatalf("got  %v\nwant %v", v.Proto(), want)
	}
}

func TestDecideDefaultsToAnEmptyContinue(t *testing.T) {
	v, err := decide(context.Background(), eventWith(nil))
	if err != nil || !proto.Equal(v.Proto(), &pb.Verdict{Action: pb.Action_ACTION_CONTINUE}) {
		t.Fatalf("got %v, %v", v.Proto(), err)
	}
}

func TestParseReplyWithAndWithoutEnhancedCode(t *testing.T) {
	cases := map[string]*pb.SmtpReply{
		"250 2.0.0 a|b": {Code: 250, EnhancedCode: "2.0.0", Lines: []string{"a", "b"}},
		"421 closing":   {Code: 421, Lines: []string{"closing"}},
		"451":           {Code: 451},
		"550 5.1.1":     {Code: 550, EnhancedCode: "5.1.1"},
	}
	for spec, want := range cases {
		code, enh, lines, ok, err := parseReply(spec)
		got := &pb.SmtpReply{Code: uint32(code), EnhancedCode: enh, Lines: lines}
		if err != nil || !ok || !proto.Equal(got, want) {
			t.Errorf("parseReply(%q) = %v, %v", spec, got, err)
		}
	}
	for _, bad := range []string{"x50 no", "5500 long"} {
		if _, _, _, _, err := parseReply(bad); err == nil {
			t.Errorf("parseReply(%q) accepted", bad)
		}
	}
}

func TestDecideFailsWhenAskedOrWhenPropertiesAreMalformed(t *testing.T) {
	for _, props := range []map[string]string{
		{"fail": "1"}, {"verdict": "maybe"}, {"next_state": "NOWHERE"}, {"edits": "explode"},
		{"edits": "insert_header:x:N:V"}, {"cache_ttl_ms": "soon"}, {"cache_ttl_ms": "5", "cache_scope": "planet"},
	} {
		if _, err := decide(context.Background(), eventWith(props)); err == nil {
			t.Errorf("decide(%v) did not fail", props)
		}
	}
}

func TestEchoDescribesTheEventCanonically(t *testing.T) {
	v, err := decide(context.Background(), eventWith(map[string]string{"reason": "@echo"}))
	if err != nil {
		t.Fatal(err)
	}
	want := "type=INBOUND_COMMAND;keyword=RCPT;arg=TO:<b@y>;sender=a@x;rcpt=b@y;rcpts=1;client=192.0.2.7;" +
		"helo=h.example;headers=0;body=0;binding=conf;instance=1"
	if v.Proto().GetReason() != want {
		t.Fatalf("echo = %q\nwant   %q", v.Proto().GetReason(), want)
	}
}
