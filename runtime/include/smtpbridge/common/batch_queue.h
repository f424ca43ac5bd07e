// What waits for the next message on a batched stream (Dispatcher.EvaluateStream both ways):
// gRPC allows one Write in flight per stream, so what comes while one is in flight queues here,
// and as soon as that write completes the stream takes everything queued, up to the limits, as
// its next message. The queue never holds anything back on its own: the stream takes a batch
// whenever no write is in flight, so an item that finds the stream idle goes out alone at once.
// Not thread-safe: the stream's own lock guards it.
#pragma once

#include <cstddef>
#include <deque>
#include <utility>

namespace smtpbridge::common {

struct BatchLimits {
  size_t items;  // at most this many per message
  size_t bytes;  // and no more encoded bytes than this, unless a single item is bigger
};

template <typename T>
class BatchQueue {
 public:
  explicit BatchQueue(BatchLimits limits) : limits_(limits) {}

  // Queues `item`, whose encoded size is `bytes`.
  void Push(T item, size_t bytes) { items_.push_back({std::move(item), bytes}); }

  // Moves the next message's items, oldest first, through `emit(T&&)`: the first always (so an
  // item bigger than the byte limit still goes, alone), then more while both limits hold.
  // Returns how many (0 when empty).
  template <typename Emit>
  size_t Take(Emit&& emit) {
    size_t n = 0;
    size_t bytes = 0;
    while (!items_.empty() && n < limits_.items) {
      Entry& front = items_.front();
      if (n > 0 && bytes + front.bytes > limits_.bytes) break;
      bytes += front.bytes;
      emit(std::move(front.item));
      items_.pop_front();
      ++n;
    }
    return n;
  }

  bool empty() const { return items_.empty(); }
  size_t size() const { return items_.size(); }
  void Clear() { items_.clear(); }

 private:
  struct Entry {
    T item;
    size_t bytes;
  };
  BatchLimits limits_;
  std::deque<Entry> items_;
};

}  // namespace smtpbridge::common
