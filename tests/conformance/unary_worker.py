#!/usr/bin/env python3
"""A worker written from proto/smtpbridge/v1/sink.proto alone: raw grpcio, no SDK, OnEvent only
(OnEvents answers UNIMPLEMENTED, so a dispatcher must fall back to unary). It covers the vectors
whose sink_properties are verdict/reply/tags/reason/fail (run.py's "unary-raw" language).

    python unary_worker.py --listen 127.0.0.1:0 --ready-file /tmp/ready
"""
import argparse, os, signal, threading
from concurrent import futures

import grpc
from smtpbridge.pb import sink_pb2, verdict_pb2  # the protoc output, nothing else of the SDK

ACTIONS = {"continue": "ACTION_CONTINUE", "respond": "ACTION_RESPOND", "reject": "ACTION_REJECT",
           "tempfail": "ACTION_TEMPFAIL", "drop_session": "ACTION_DROP_SESSION",
           "skip_recipient": "ACTION_SKIP_RECIPIENT"}


def on_event(request, context):
    props = request.binding.sink_properties
    if props.get("fail") == "1":
        context.abort(grpc.StatusCode.INTERNAL, "fail=1 asked for a handler error")
    verdict = verdict_pb2.Verdict(action=verdict_pb2.Action.Value(ACTIONS[props.get("verdict", "continue")]))
    if props.get("reply"):  # "CODE[ X.Y.Z][ line|line...]"
        code, _, rest = props["reply"].strip().partition(" ")
        first, _, after = rest.partition(" ")
        enhanced = first if first[:1] in "245" and first.count(".") == 2 else ""
        text = after if enhanced else rest
        verdict.reply.code, verdict.reply.enhanced_code = int(code), enhanced
        verdict.reply.lines.extend(text.split("|") if text else [])
    verdict.tags.extend(t.strip() for t in props.get("tags", "").split(",") if t.strip())
    verdict.reason = props.get("reason", "")
    return verdict


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", default="127.0.0.1:0")
    parser.add_argument("--ready-file")
    args = parser.parse_args()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("smtpbridge.v1.PolicySink", {
        "OnEvent": grpc.unary_unary_rpc_method_handler(
            on_event, request_deserializer=sink_pb2.SinkRequest.FromString,
            response_serializer=verdict_pb2.Verdict.SerializeToString)})])
    port = server.add_insecure_port(args.listen)
    server.start()
    if args.ready_file:
        with open(args.ready_file + ".tmp", "w") as f:
            f.write(f"{args.listen.rpartition(':')[0]}:{port}\n")
        os.replace(args.ready_file + ".tmp", args.ready_file)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    server.stop(5).wait()


if __name__ == "__main__":
    main()
