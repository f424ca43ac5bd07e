package smtpbridge

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/smtpbridge/smtpbridge/clients/go/smtpbridgev1"
)

func TestVerdictConstructorsSetActionAndReply(t *testing.T) {
	cases := []struct {
		name string
		got  *Verdict
		want *pb.Verdict
	}{
		{"continue", Continue(), &pb.Verdict{Action: pb.Action_ACTION_CONTINUE}},
		{"respond", Respond(250, "2.0.0", "ok", "second"), &pb.Verdict{Action: pb.Action_ACTION_RESPOND,
			Reply: &pb.SmtpReply{Code: 250, EnhancedCode: "2.0.0", Lines: []string{"ok", "second"}}}},
		{"reject", Reject(550, "5.7.1", "no"), &pb.Verdict{Action: pb.Action_ACTION_REJECT,
			Reply: &pb.SmtpReply{Code: 550, EnhancedCode: "5.7.1", Lines: []string{"no"}}}},
		{"reject default reply", Reject(0, ""), &pb.Verdict{Action: pb.Action_ACTION_REJECT}},
		{"tempfail", Tempfail(451, "", "later"), &pb.Verdict{Action: pb.Action_ACTION_TEMPFAIL,
			Reply: &pb.SmtpReply{Code: 451, Lines: []string{"later"}}}},
		{"drop", DropSession(0, ""), &pb.Verdict{Action: pb.Action_ACTION_DROP_SESSION}},
		{"skip", SkipRecipient(), &pb.Verdict{Action: pb.Action_ACTION_SKIP_RECIPIENT}},
	}
	for _, c := range cases {
		if !proto.Equal(c.got.Proto(), c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.got.Proto(), c.want)
		}
	}
}

func TestVerdictChainsRewritesEditsCacheReasonAndTags(t *testing.T) {
	v := Continue().
		WithCommand("RCPT TO:<x@y>").AppendCommand(" NOTIFY=NEVER").
		WithNextState(StateSessionEnd).
		WithReply(250, "2.1.5", "fine").
		AddHeader("X-A", "1").
		InsertHeader(0, "X-B", "2").
		ChangeHeader("Subject", 2, "new").
		DeleteHeader("X-C", 0).
		ChangeSender("s@x", "SIZE=1").
		AddRecipient("r@x", "").
		DeleteRecipient("old@x").
		Quarantine("suspicious").
		Discard().
		ReplaceBody([]byte("body\r\n")).
		CacheFor(1500*time.Millisecond, ScopeSender).
		Reasonf("because %d", 42).
		Tag("a").Tag("b", "c")

	want := &pb.Verdict{
		Action:    pb.Action_ACTION_CONTINUE,
		Reply:     &pb.SmtpReply{Code: 250, EnhancedCode: "2.1.5", Lines: []string{"fine"}},
		Command:   &pb.CommandRewrite{SetCommand: "RCPT TO:<x@y>", Append: " NOTIFY=NEVER"},
		NextState: pb.OutboundState_OUTBOUND_STATE_SESSION_END,
		Edits: []*pb.MessageEdit{
			{Edit: &pb.MessageEdit_AddHeader{AddHeader: &pb.AddHeader{Name: "X-A", Value: "1"}}},
			{Edit: &pb.MessageEdit_InsertHeader{InsertHeader: &pb.InsertHeader{Index: 0, Name: "X-B", Value: "2"}}},
			{Edit: &pb.MessageEdit_ChangeHeader{ChangeHeader: &pb.ChangeHeader{Name: "Subject", Occurrence: 2, Value: "new"}}},
			{Edit: &pb.MessageEdit_ChangeHeader{ChangeHeader: &pb.ChangeHeader{Name: "X-C"}}},
			{Edit: &pb.MessageEdit_ChangeSender{ChangeSender: &pb.ChangeSender{Address: "s@x", Parameters: "SIZE=1"}}},
			{Edit: &pb.MessageEdit_AddRecipient{AddRecipient: &pb.AddRecipient{Address: "r@x"}}},
			{Edit: &pb.MessageEdit_DeleteRecipient{DeleteRecipient: &pb.DeleteRecipient{Address: "old@x"}}},
			{Edit: &pb.MessageEdit_Quarantine{Quarantine: &pb.Quarantine{Reason: "suspicious"}}},
			{Edit: &pb.MessageEdit_Discard{Discard: &pb.Discard{}}},
			{Edit: &pb.MessageEdit_ReplaceBody{ReplaceBody: &pb.ReplaceBody{Body: []byte("body\r\n")}}},
		},
		CacheTtl:   durationpb.New(1500 * time.Millisecond),
		CacheScope: pb.CacheScope_CACHE_SCOPE_SENDER,
		Reason:     "because 42",
		Tags:       []string{"a", "b", "c"},
	}
	if !proto.Equal(v.Proto(), want) {
		t.Fatalf("got  %v\nwant %v", v.Proto(), want)
	}
	if err := v.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}

func TestVerdictBuilderPanicsOnWhatTheHostCannotSend(t *testing.T) {
	bad := map[string]func() *Verdict{
		"2xx reject":           func() *Verdict { return Reject(250, "2.0.0", "ok") },
		"reject with 4xx":      func() *Verdict { return Reject(451, "", "x") },
		"tempfail with 5xx":    func() *Verdict { return Tempfail(550, "", "x") },
		"drop with 2xx":        func() *Verdict { return DropSession(250, "") },
		"code out of range":    func() *Verdict { return Respond(999, "") },
		"code too small":       func() *Verdict { return Respond(99, "") },
		"enhanced class":       func() *Verdict { return Reject(550, "4.7.1", "x") },
		"enhanced malformed":   func() *Verdict { return Respond(250, "2.0", "x") },
		"continue bad reply":   func() *Verdict { return Continue().WithReply(600, "") },
		"CRLF in reply":        func() *Verdict { return Reject(550, "5.7.1", "no\r\n250 ok") },
		"CRLF in header value": func() *Verdict { return Continue().AddHeader("X-A", "v\r\nX-Injected: yes") },
		"space in header name": func() *Verdict { return Continue().AddHeader("Bad Name", "v") },
		"colon in header name": func() *Verdict { return Continue().InsertHeader(0, "X-A:", "v") },
		"empty header name":    func() *Verdict { return Continue().ChangeHeader("", 0, "v") },
		"LF in command":        func() *Verdict { return Continue().WithCommand("RCPT TO:<a@b>\nRSET") },
		"CR in sender":         func() *Verdict { return Continue().ChangeSender("a@b\r", "") },
		"negative ttl":         func() *Verdict { return Continue().CacheFor(-time.Second, ScopeSender) },
		"reply on skip":        func() *Verdict { return SkipRecipient().WithReply(250, "2.0.0", "ok") },
	}
	for name, build := range bad {
		func() {
			defer func() {
				if _, ok := recover().(*VerdictError); !ok {
					t.Errorf("%s: built without a *VerdictError panic", name)
				}
			}()
			build()
		}()
	}
	good := []*Verdict{Reject(554, "5.7.0", "x"), Tempfail(421, "4.4.2"), Respond(250, "", "ok"), DropSession(421, ""),
		DropSession(554, "5.3.2"), Continue().AddHeader("X-Folded", "a\tb")}
	for _, v := range good {
		if err := v.Validate(); err != nil {
			t.Errorf("Validate(%v): %v", v.Proto(), err)
		}
	}
}

func TestValidateChecksAProtoChangedAfterBuilding(t *testing.T) {
	v := Reject(550, "5.7.1", "x")
	v.Proto().Reply.Code = 250
	if v.Validate() == nil {
		t.Fatal("Validate accepted a 250 reject")
	}
}

func TestAddressHelpersIgnoreCase(t *testing.T) {
	if !AddressIn("Blocked@Example.COM", []string{"a@x", " blocked@example.com "}) || !SameAddress("<A@B>", "a@b") {
		t.Fatal("case or brackets not ignored")
	}
	if AddressIn("", []string{""}) || AddressIn("a@b", []string{"a@c"}) {
		t.Fatal("false match")
	}
}
