#include "workers/batch_wire.h"

#include <google/protobuf/io/coded_stream.h>

#include <cstring>
#include <string>

namespace smtpbridge::dispatcher {
namespace {

using google::protobuf::io::CodedOutputStream;

constexpr uint8_t kLengthDelimited = 2;
constexpr uint8_t kVarint = 0;

constexpr uint8_t Tag(int field, uint8_t wire_type) {
  return static_cast<uint8_t>((field << 3) | wire_type);
}

}  // namespace

grpc::Slice EncodeRequestEntry(const v1::SinkRequest& request, uint64_t stream_id,
                               std::string_view traceparent) {
  const size_t body = request.ByteSizeLong();
  // The fields appended to the request: stream_id, then traceparent when there is one.
  size_t tail = 1 + CodedOutputStream::VarintSize64(stream_id);
  if (!traceparent.empty()) {
    tail += 1 + CodedOutputStream::VarintSize64(traceparent.size()) + traceparent.size();
  }
  const size_t length = body + tail;
  const size_t total = 1 + CodedOutputStream::VarintSize64(length) + length;
  grpc_slice raw = grpc_slice_malloc(total);
  uint8_t* out = GRPC_SLICE_START_PTR(raw);
  *out++ = Tag(v1::SinkRequests::kRequestsFieldNumber, kLengthDelimited);
  out = CodedOutputStream::WriteVarint64ToArray(length, out);
  out = request.SerializeWithCachedSizesToArray(out);
  *out++ = Tag(v1::SinkRequest::kStreamIdFieldNumber, kVarint);
  out = CodedOutputStream::WriteVarint64ToArray(stream_id, out);
  if (!traceparent.empty()) {
    *out++ = Tag(v1::SinkRequest::kTraceparentFieldNumber, kLengthDelimited);
    out = CodedOutputStream::WriteVarint64ToArray(traceparent.size(), out);
    std::memcpy(out, traceparent.data(), traceparent.size());
  }
  return grpc::Slice(raw, grpc::Slice::STEAL_REF);
}

grpc::ByteBuffer EncodeBatch(std::vector<grpc::Slice>* entries,
                             const std::vector<uint64_t>& cancel) {
  if (!cancel.empty()) {
    size_t packed = 0;
    for (const uint64_t id : cancel) packed += CodedOutputStream::VarintSize64(id);
    const size_t total = 1 + CodedOutputStream::VarintSize64(packed) + packed;
    grpc_slice raw = grpc_slice_malloc(total);
    uint8_t* out = GRPC_SLICE_START_PTR(raw);
    *out++ = Tag(v1::SinkRequests::kCancelFieldNumber, kLengthDelimited);
    out = CodedOutputStream::WriteVarint64ToArray(packed, out);
    for (const uint64_t id : cancel) out = CodedOutputStream::WriteVarint64ToArray(id, out);
    entries->push_back(grpc::Slice(raw, grpc::Slice::STEAL_REF));
  }
  grpc::ByteBuffer buffer(entries->data(), entries->size());
  entries->clear();
  return buffer;
}

bool ParseAnswers(const grpc::ByteBuffer& buffer, v1::SinkAnswers* answers) {
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) return false;
  if (slices.size() == 1) {
    return answers->ParseFromArray(slices[0].begin(), static_cast<int>(slices[0].size()));
  }
  std::string joined;
  for (const auto& s : slices) joined.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return answers->ParseFromString(joined);
}

}  // namespace smtpbridge::dispatcher
