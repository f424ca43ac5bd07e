"""The runner's own logic: vector validation, the bindings file, verdict comparison, known failures.
Run: clients/python/test.sh -c pyproject.toml ../../tests/conformance/test_run.py (ctest: conformance_runner)."""
import json
import pathlib
import sys
from concurrent import futures

import grpc
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import run  # noqa: E402

from smtpbridge import pb  # noqa: E402

V = pb.verdict_pb2
D = pb.dispatcher_pb2


def write_cases(folder: pathlib.Path, cases, name="a.json"):
    (folder / name).write_text(json.dumps(cases))


def case(name="c1", props=None, expected=None, **extra):
    entry = {"name": name, "description": "d",
             "binding": {"event": "INBOUND_COMMAND", "sink_properties": props or {}},
             "event": {"type": "EVENT_TYPE_INBOUND_COMMAND", "command": {"keyword": "RCPT"}},
             "expected": expected or {"action": "ACTION_CONTINUE"}}
    entry.update(extra)
    return entry


def test_the_shipped_vectors_load_with_unique_instances():
    cases = run.load_cases(run.VECTORS)
    assert len(cases) >= 30
    assert [c.instance for c in cases] == list(range(1, len(cases) + 1))
    assert {c.event_name for c in cases} == {e.name for e in run.EventType if e.name != "UNSPECIFIED"}


@pytest.mark.parametrize("bad, message", [
    (case(binding={"event": "NOPE"}), "unknown EventType"),
    (case(event={"type": "EVENT_TYPE_CONNECT"}), "does not match"),
    (case(expected={"action": "ACTION_MAYBE"}), "ACTION_MAYBE"),
    (case(extra_key=1), "unknown keys"),
    (case(name="has space"), "without spaces"),
    (case(expected_outcome="SINK_OUTCOME_KIND_TIMEOUT"), "expected_outcome"),
])
def test_bad_vectors_are_named_errors(tmp_path, bad, message):
    write_cases(tmp_path, [bad])
    with pytest.raises(run.SetupError, match=message) as err:
        run.load_cases(tmp_path)
    assert "a.json[0]" in str(err.value)


def test_duplicate_names_across_files(tmp_path):
    write_cases(tmp_path, [case("same")], "a.json")
    write_cases(tmp_path, [case("same")], "b.json")
    with pytest.raises(run.SetupError, match="duplicate case name 'same'"):
        run.load_cases(tmp_path)


def test_placeholders_and_event_defaults(tmp_path):
    write_cases(tmp_path, [case("x"), case("y", expected={"reason": "b=${binding};i=${instance}"})])
    y = run.load_cases(tmp_path)[1]
    assert y.expected().reason == "b=y;i=2"
    event = run.event_for(y)
    assert event.session.instance == 2 and event.budget.seconds == 5 and event.event_id


def test_bindings_yaml_quotes_everything(tmp_path):
    write_cases(tmp_path, [case("q", props={"reply": "550 5.7.1 a: \"b\"|c", "edits": "x;y"},
                                binding={"event": "CONNECT", "rule": "*", "body_limit": 10,
                                         "sink_properties": {"k": "v: w"}},
                                event={"type": "EVENT_TYPE_CONNECT"})])
    text = run.bindings_yaml(run.load_cases(tmp_path), "ipv4:127.0.0.1:1")
    assert '    event: "CONNECT"' in text and '      "k": "v: w"' in text
    assert "    body_limit: 10" in text and '    sink: "ipv4:127.0.0.1:1"' in text


def response(verdict: V.Verdict, outcome_verdict=None, kind=D.SINK_OUTCOME_KIND_ANSWERED, binding="c1"):
    r = D.EvaluateResponse(verdict=verdict)
    r.outcomes.add(binding=binding, kind=kind, verdict=outcome_verdict or verdict)
    return r


def loaded(tmp_path, entry):
    write_cases(tmp_path, [entry])
    return run.load_cases(tmp_path)[0]


def test_check_evaluate_pass_and_diff(tmp_path):
    c = loaded(tmp_path, case(expected={"action": "ACTION_REJECT", "tags": ["a"]}))
    good = V.Verdict(action=V.ACTION_REJECT, tags=["a"])
    assert run.check_evaluate(c, response(good)) == []
    bad = V.Verdict(action=V.ACTION_REJECT, tags=["b"])
    problems = run.check_evaluate(c, response(bad))
    assert any('- tags[0]: "a"' in p for p in problems) and any('+ tags[0]: "b"' in p for p in problems)


def test_unspecified_action_is_continue(tmp_path):
    c = loaded(tmp_path, case())
    assert run.check_evaluate(c, response(V.Verdict())) == []


def test_error_outcome_compares_the_action_only(tmp_path):
    c = loaded(tmp_path, case(expected={"action": "ACTION_TEMPFAIL"}, expected_outcome="SINK_OUTCOME_KIND_ERROR"))
    fallback = V.Verdict(action=V.ACTION_TEMPFAIL, reason="binding c1: error")
    assert run.check_evaluate(c, response(fallback, kind=D.SINK_OUTCOME_KIND_ERROR)) == []
    answered = run.check_evaluate(c, response(V.Verdict(action=V.ACTION_CONTINUE)))
    assert "want SINK_OUTCOME_KIND_ERROR" in answered[0]


def test_missing_outcome_and_merged_mismatch(tmp_path):
    c = loaded(tmp_path, case())
    assert "no outcome" in run.check_evaluate(c, response(V.Verdict(), binding="other"))[0]
    merged = response(V.Verdict(action=V.ACTION_REJECT), outcome_verdict=V.Verdict(action=V.ACTION_CONTINUE))
    assert any("merged verdict action" in p for p in run.check_evaluate(c, merged))


def test_known_failures_must_name_cases(tmp_path, monkeypatch):
    write_cases(tmp_path, [case("c1")])
    cases = run.load_cases(tmp_path)
    (tmp_path / "known_failures").mkdir()
    monkeypatch.setattr(run, "HERE", tmp_path)
    (tmp_path / "known_failures" / "zz.txt").write_text("# header\nc1  # why\n\n")
    assert run.read_known_failures("zz", cases) == {"c1": "why"}
    (tmp_path / "known_failures" / "zz.txt").write_text("gone  # stale\n")
    with pytest.raises(run.SetupError, match="zz.txt:1: 'gone'"):
        run.read_known_failures("zz", cases)


@pytest.mark.parametrize("address, target", [
    ("127.0.0.1:5", "ipv4:127.0.0.1:5"), ("[::1]:5", "ipv6:[::1]:5"), ("localhost:5", "dns:///localhost:5")])
def test_sink_target(address, target):
    assert run.sink_target(address) == target


def test_known_failures_accept_the_onevents_transport_line(tmp_path, monkeypatch):
    write_cases(tmp_path, [case("c1")])
    cases = run.load_cases(tmp_path)
    (tmp_path / "known_failures").mkdir()
    monkeypatch.setattr(run, "HERE", tmp_path)
    (tmp_path / "known_failures" / "zz.txt").write_text("OnEvents  # not yet\n")
    assert run.read_known_failures("zz", cases) == {"OnEvents": "not yet"}


def spec(**kw):
    return run.WorkerSpec("zz", ["true"], pathlib.Path("."), [], **kw)


def test_a_worker_covers_only_cases_using_its_properties(tmp_path):
    write_cases(tmp_path, [case("a", props={"verdict": "reject"}), case("b", props={"edits": "discard"}),
                           case("c", props={"reason": "@echo"}), case("d", props={"reason": "why"})])
    cases = run.load_cases(tmp_path)
    narrow = spec(properties=["verdict", "reason"])
    assert [c.name for c in cases if narrow.covers(c)] == ["a", "d"]
    assert all(spec().covers(c) for c in cases)


@pytest.mark.parametrize("transports, known, unimplemented, failed, known_count", [
    (["OnEvent", "OnEvents"], {}, None, 0, 0),                      # serves it
    (["OnEvent", "OnEvents"], {}, "UNIMPLEMENTED", 1, 0),           # should, does not, not listed
    (["OnEvent", "OnEvents"], {"OnEvents": ""}, "UNIMPLEMENTED", 0, 1),  # listed gap
    (["OnEvent", "OnEvents"], {"OnEvents": ""}, None, 1, 0),        # listed but served: stale entry
    (["OnEvent"], {}, "UNIMPLEMENTED", 0, 0),                       # unary-only by design
    (["OnEvent"], {}, None, 1, 0),                                  # declared unary-only, serves it
])
def test_stream_support_is_judged_against_workers_json_and_known_failures(
        transports, known, unimplemented, failed, known_count):
    result = run.LanguageResult()
    run._judge_stream_support(spec(transports=transports), known, unimplemented, result)
    assert (result.failed, result.known) == (failed, known_count)


# A raw in-process worker for the OnEvents pass: answers each batch in reverse order, case "e" as
# an error; and one that serves OnEvent only.
def serve(handlers):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("smtpbridge.v1.PolicySink", handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, f"127.0.0.1:{port}"


def reversed_answers(messages, context):
    for message in messages:
        answers = []
        for request in reversed(message.requests):
            if request.binding.name == "e":
                answers.append(pb.sink_pb2.SinkAnswer(stream_id=request.stream_id, error_code=13, error_message="boom"))
            else:
                answers.append(pb.sink_pb2.SinkAnswer(stream_id=request.stream_id,
                                                      verdict=V.Verdict(action=V.ACTION_REJECT)))
        yield pb.sink_pb2.SinkAnswers(answers=answers)


def test_the_onevents_pass_matches_answers_by_stream_id(tmp_path, monkeypatch):
    monkeypatch.setattr(run, "STREAM_BATCH", 2)
    write_cases(tmp_path, [case(n, expected={"action": "ACTION_REJECT"}) for n in "abcd"]
                + [case("e", expected={"action": "ACTION_TEMPFAIL"}, expected_outcome="SINK_OUTCOME_KIND_ERROR"),
                   case("f", expected={"action": "ACTION_CONTINUE"})])
    cases = run.load_cases(tmp_path)
    server, address = serve({"OnEvents": grpc.stream_stream_rpc_method_handler(
        reversed_answers, request_deserializer=pb.sink_pb2.SinkRequests.FromString,
        response_serializer=pb.sink_pb2.SinkAnswers.SerializeToString)})
    try:
        outcomes = dict((c.name, problems) for c, problems in run._run_stream(cases, address))
    finally:
        server.stop(None)
    assert {n: p for n, p in outcomes.items() if p} == {"f": outcomes["f"]}
    assert "verdict differs" in outcomes["f"][0]


def test_a_unary_only_worker_is_reported_as_not_serving_onevents(tmp_path):
    write_cases(tmp_path, [case("a")])
    server, address = serve({"OnEvent": grpc.unary_unary_rpc_method_handler(
        lambda request, context: V.Verdict(), request_deserializer=pb.SinkRequest.FromString,
        response_serializer=V.Verdict.SerializeToString)})
    try:
        with pytest.raises(run.Unimplemented):
            run._run_stream(run.load_cases(tmp_path), address)
        assert run._run_direct(run.load_cases(tmp_path), address)[0][1] == []
    finally:
        server.stop(None)


def test_a_listed_case_stays_known_while_one_pass_fails_it(tmp_path):
    write_cases(tmp_path, [case("a"), case("b")])
    a, b = run.load_cases(tmp_path)
    known = {"a": "dispatcher gap"}
    result = run.LanguageResult()
    run.tally("zz", [a, b], known, [("dispatcher", [(a, ["wrong"]), (b, [])]), ("OnEvent", [(a, []), (b, [])])],
              result, verbose=False)
    assert (result.passed, result.failed, result.known) == (3, 0, 1)
    result = run.LanguageResult()
    run.tally("zz", [a, b], known, [("dispatcher", [(a, []), (b, [])]), ("OnEvent", [(a, []), (b, ["x"])])],
              result, verbose=False)
    assert result.failed == 2 and any("UNEXPECTED PASS a" in line for line in result.report)
