"""The generated smtpbridge.v1 messages and stubs, under short names.

    from smtpbridge import pb
    pb.Event, pb.Verdict, pb.PolicySinkStub, pb.DispatcherStub, ...
"""
from smtpbridge._gen.smtpbridge.v1 import (  # noqa: F401
    admin_pb2,
    admin_pb2_grpc,
    binding_pb2,
    dispatcher_pb2,
    dispatcher_pb2_grpc,
    event_pb2,
    sink_pb2,
    sink_pb2_grpc,
    verdict_pb2,
)

# Messages
Event = event_pb2.Event
SessionContext = event_pb2.SessionContext
Envelope = event_pb2.Envelope
Command = event_pb2.Command
SmtpReply = event_pb2.SmtpReply
Message = event_pb2.Message
Header = event_pb2.Header
Endpoint = event_pb2.Endpoint
Binding = binding_pb2.Binding
SinkRequest = sink_pb2.SinkRequest
Verdict = verdict_pb2.Verdict
MessageEdit = verdict_pb2.MessageEdit
CommandRewrite = verdict_pb2.CommandRewrite
EvaluateRequest = dispatcher_pb2.EvaluateRequest
EvaluateResponse = dispatcher_pb2.EvaluateResponse

# Services
PolicySinkServicer = sink_pb2_grpc.PolicySinkServicer
PolicySinkStub = sink_pb2_grpc.PolicySinkStub
add_PolicySinkServicer_to_server = sink_pb2_grpc.add_PolicySinkServicer_to_server
DispatcherStub = dispatcher_pb2_grpc.DispatcherStub
POLICY_SINK_SERVICE = sink_pb2.DESCRIPTOR.services_by_name["PolicySink"].full_name
