package main

import (
	"context"
	"testing"

	smtpbridge "github.com/smtpbridge/smtpbridge/clients/go"
	pb "github.com/smtpbridge/smtpbridge/clients/go/smtpbridgev1"
)

func ev(keyword string, env *pb.Envelope, props map[string]string) *smtpbridge.EventContext {
	return smtpbridge.NewEvent(&pb.SinkRequest{
		Event:   &pb.Event{Type: pb.EventType_EVENT_TYPE_INBOUND_COMMAND, Command: &pb.Command{Keyword: keyword}, Envelope: env},
		Binding: &pb.Binding{SinkProperties: props},
	})
}

func TestBlockedRecipientsAreRejectedCaseInsensitively(t *testing.T) {
	props := map[string]string{"blocked": "spam@example.com, trap@example.com"}
	v, _ := checkRecipient(context.Background(), ev("RCPT", &pb.Envelope{Recipient: "Trap@Example.com"}, props))
	if v.Action() != pb.Action_ACTION_REJECT || v.Proto().GetReply().GetCode() != 550 ||
		v.Proto().GetCacheScope() != pb.CacheScope_CACHE_SCOPE_RECIPIENT {
		t.Fatalf("blocked recipient: %v", v.Proto())
	}
	v, _ = checkRecipient(context.Background(), ev("RCPT", &pb.Envelope{Recipient: "ok@example.com"}, props))
	if v.Action() != pb.Action_ACTION_CONTINUE {
		t.Fatalf("other recipient: %v", v.Proto())
	}
}

func TestGreylistedSenderDomainsTempfail(t *testing.T) {
	props := map[string]string{"tempfail_sender_domains": "slow.example"}
	v, _ := checkSender(context.Background(), ev("MAIL", &pb.Envelope{Sender: "a@SLOW.example"}, props))
	if v.Action() != pb.Action_ACTION_TEMPFAIL || v.Proto().GetReply().GetCode() != 451 {
		t.Fatalf("greylisted sender: %v", v.Proto())
	}
	for _, sender := range []string{"a@fast.example", ""} {
		v, _ = checkSender(context.Background(), ev("MAIL", &pb.Envelope{Sender: sender}, props))
		if v.Action() != pb.Action_ACTION_CONTINUE {
			t.Fatalf("sender %q: %v", sender, v.Proto())
		}
	}
}

func TestEndOfDataGetsTheStampHeader(t *testing.T) {
	v, _ := stampMessage(context.Background(), ev("_EOD", &pb.Envelope{Recipients: []string{"a@x", "b@x"}},
		map[string]string{"header_name": "X-Checked"}))
	edits := v.Proto().GetEdits()
	if len(edits) != 1 || edits[0].GetAddHeader().GetName() != "X-Checked" ||
		edits[0].GetAddHeader().GetValue() != "checked by go example-worker; 2 recipient(s)" {
		t.Fatalf("edits %v", edits)
	}
}
