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

func TestVerdictValidateRefusesRepliesTheHostCannotSend(t *testing.T) {
	bad := map[string]*Verdict{
		"reject with 4xx":    Reject(451, "", "x"),
		"tempfail with 5xx":  Tempfail(550, "", "x"),
		"code out of range":  Respond(999, ""),
		"code too small":     Respond(99, ""),
		"enhanced class":     Reject(550, "4.7.1", "x"),
		"enhanced malformed": Respond(250, "2.0", "x"),
		"continue bad reply": Continue().WithReply(600, ""),
	}
	for name, v := range bad {
		if v.Validate() == nil {
			t.Errorf("%s: Validate accepted %v", name, v.Proto())
		}
	}
	good := []*Verdict{Reject(554, "5.7.0", "x"), Tempfail(421, "4.4.2"), Respond(250, "", "ok"), DropSession(421, "")}
	for _, v := range good {
		if err := v.Validate(); err != nil {
			t.Errorf("Validate(%v): %v", v.Proto(), err)
		}
	}
}
