import datetime

import pytest

from smtpbridge import Action, CacheScope, OutboundState, Reply, Verdict, pb

V = pb.verdict_pb2


def test_continue_is_explicit_continue():
    assert Verdict.continue_().to_proto() == V.Verdict(action=V.ACTION_CONTINUE)
    assert Verdict.proceed().action is Action.CONTINUE


@pytest.mark.parametrize("build, action", [
    (lambda: Verdict.respond("250 2.0.0 ok"), V.ACTION_RESPOND),
    (lambda: Verdict.reject(), V.ACTION_REJECT),
    (lambda: Verdict.tempfail(), V.ACTION_TEMPFAIL),
    (lambda: Verdict.drop_session(), V.ACTION_DROP_SESSION),
    (lambda: Verdict.skip_recipient(), V.ACTION_SKIP_RECIPIENT),
])
def test_every_action(build, action):
    assert build().to_proto().action == action


def test_reply_from_text_and_from_reply():
    by_text = Verdict.reject("550 5.7.1 no thanks").to_proto()
    assert by_text.reply == pb.SmtpReply(code=550, enhanced_code="5.7.1", lines=["no thanks"])
    by_obj = Verdict.reject(Reply(550, "5.7.1", ["no", "thanks"])).to_proto()
    assert list(by_obj.reply.lines) == ["no", "thanks"]


def test_reply_parse_variants():
    assert Reply.parse("250 swallowed") == Reply(250, "", ["swallowed"])
    assert Reply.parse("221") == Reply(221)
    assert Reply.parse("250 2.0.0 a|b", line_separator="|") == Reply(250, "2.0.0", ["a", "b"])
    assert Reply.parse("250 2.0.0 a\nb") == Reply(250, "2.0.0", ["a", "b"])
    assert str(Reply(250, "2.0.0", ["a", "b"])) == "250 2.0.0 a / 250 2.0.0 b"


@pytest.mark.parametrize("text", ["", "55", "abc text", "999 x", "550 4.7.1 class mismatch"])
def test_bad_replies_are_clear_errors(text):
    with pytest.raises(ValueError):
        Reply.parse(text)


def test_reject_and_tempfail_check_reply_class():
    with pytest.raises(ValueError, match="5xx"):
        Verdict.reject("451 4.7.1 later")
    with pytest.raises(ValueError, match="4xx"):
        Verdict.tempfail("550 5.7.1 no")


def test_rewrites_and_next_state():
    v = Verdict.continue_().rewrite("EHLO relay.example").append(" A=1").append(" B=2")
    v.next_state("data_or_bdat")
    p = v.to_proto()
    assert p.command.set_command == "EHLO relay.example"
    assert p.command.append == " A=1 B=2"
    assert p.next_state == OutboundState.DATA_OR_BDAT
    with pytest.raises(ValueError):
        Verdict.continue_().next_state("NOWHERE")


def test_every_edit_in_order():
    v = (Verdict.continue_().add_header("X-A", "1").insert_header(0, "X-B", "2")
         .change_header("To", "c@example.net", 2).delete_header("Subject").change_sender("")
         .add_recipient("x@example.org", "NOTIFY=NEVER").delete_recipient("b@example.net")
         .quarantine("review").discard().replace_body("new body"))
    edits = v.to_proto().edits
    assert [e.WhichOneof("edit") for e in edits] == [
        "add_header", "insert_header", "change_header", "change_header", "change_sender",
        "add_recipient", "delete_recipient", "quarantine", "discard", "replace_body"]
    assert edits[1].insert_header == V.InsertHeader(index=0, name="X-B", value="2")
    assert edits[2].change_header == V.ChangeHeader(name="To", occurrence=2, value="c@example.net")
    assert edits[3].change_header == V.ChangeHeader(name="Subject")
    assert edits[4].change_sender.address == ""  # null sender still is an edit
    assert edits[5].add_recipient.parameters == "NOTIFY=NEVER"
    assert edits[9].replace_body.body == b"new body"


def test_cache_for_seconds_timedelta_and_scope():
    p = Verdict.reject().cache_for(1.5, "sender").to_proto()
    assert (p.cache_ttl.seconds, p.cache_ttl.nanos) == (1, 500_000_000)
    assert p.cache_scope == CacheScope.SENDER
    p = Verdict.continue_().cache_for(datetime.timedelta(minutes=2), CacheScope.CLIENT_ADDRESS).to_proto()
    assert p.cache_ttl.seconds == 120 and p.cache_scope == V.CACHE_SCOPE_CLIENT_ADDRESS
    assert Verdict.continue_().cache_for(0.1).to_proto().cache_ttl.nanos == 100_000_000
    with pytest.raises(ValueError):
        Verdict.continue_().cache_for(-1)
    with pytest.raises(ValueError):
        Verdict.continue_().cache_for(1, "galaxy")


def test_reason_tags_and_equality():
    v = Verdict.tempfail().reason("greylisted").tag("a").tag("b", "c")
    p = v.to_proto()
    assert p.reason == "greylisted" and list(p.tags) == ["a", "b", "c"]
    assert v == p
    assert v == Verdict.tempfail().reason("greylisted").tag("a", "b", "c")
    assert "ACTION_TEMPFAIL" in repr(v)


def test_to_proto_is_a_copy():
    v = Verdict.continue_()
    p = v.to_proto()
    v.tag("later")
    assert list(p.tags) == []
