// The OnEvents request message as the dispatcher puts it together from pre-serialized entries
// (workers/batch_wire.h): it must parse as the SinkRequests the proto describes.
#include "workers/batch_wire.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace smtpbridge::dispatcher {
namespace {

std::string Flatten(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(buffer.Dump(&slices).ok());
  std::string out;
  for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

TEST(BatchWire, EntriesAndCancelsParseAsSinkRequests) {
  v1::SinkRequest a;
  a.mutable_event()->set_event_id("a");
  a.mutable_event()->mutable_message()->set_body(std::string(300, 'x'));  // a multi-byte length
  a.mutable_binding()->set_name("bind");
  a.set_stream_id(99);  // what the caller had: the appended field wins
  v1::SinkRequest b;
  b.mutable_event()->set_event_id("b");

  std::vector<grpc::Slice> entries;
  entries.push_back(
      EncodeRequestEntry(a, 1, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
  entries.push_back(EncodeRequestEntry(b, 300, ""));
  const grpc::ByteBuffer buffer = EncodeBatch(&entries, {5, 1u << 20});
  EXPECT_TRUE(entries.empty());

  v1::SinkRequests parsed;
  ASSERT_TRUE(parsed.ParseFromString(Flatten(buffer)));
  ASSERT_EQ(parsed.requests_size(), 2);
  EXPECT_EQ(parsed.requests(0).event().event_id(), "a");
  EXPECT_EQ(parsed.requests(0).event().message().body().size(), 300u);
  EXPECT_EQ(parsed.requests(0).binding().name(), "bind");
  EXPECT_EQ(parsed.requests(0).stream_id(), 1u);
  EXPECT_EQ(parsed.requests(0).traceparent(),
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  EXPECT_EQ(parsed.requests(1).event().event_id(), "b");
  EXPECT_EQ(parsed.requests(1).stream_id(), 300u);
  EXPECT_EQ(parsed.requests(1).traceparent(), "");
  ASSERT_EQ(parsed.cancel_size(), 2);
  EXPECT_EQ(parsed.cancel(0), 5u);
  EXPECT_EQ(parsed.cancel(1), 1u << 20);
}

TEST(BatchWire, AnswersParseFromAnyNumberOfSlices) {
  v1::SinkAnswers answers;
  answers.add_answers()->set_stream_id(7);
  answers.add_answers()->set_error_code(14);
  const std::string bytes = answers.SerializeAsString();
  grpc::Slice one(bytes.substr(0, 3)), two(bytes.substr(3));
  grpc::Slice slices[] = {one, two};
  grpc::ByteBuffer split(slices, 2);
  v1::SinkAnswers parsed;
  ASSERT_TRUE(ParseAnswers(split, &parsed));
  ASSERT_EQ(parsed.answers_size(), 2);
  EXPECT_EQ(parsed.answers(0).stream_id(), 7u);
  EXPECT_EQ(parsed.answers(1).error_code(), 14);
  grpc::Slice junk(std::string("\xff\xff\xff"));
  grpc::ByteBuffer bad(&junk, 1);
  EXPECT_FALSE(ParseAnswers(bad, &parsed));
}

}  // namespace
}  // namespace smtpbridge::dispatcher
