#pragma once
// The tokenizer threads: each takes the oldest request waiting and runs the job on it (encode and
// admit). Several, so that a small request is not encoded after a huge one. They run below the
// model's priority (common/thread_role.h): encoding only feeds the model.
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/request_state.h"

namespace rerankd {

class TokenizerPool {
 public:
  using Job = std::function<void(const std::shared_ptr<RequestState>&)>;

  // Starts the threads; throws Error(kUnavailable) when one cannot start (no memory for its
  // stack, a process limit), having stopped those that did. `job` must not throw.
  TokenizerPool(int threads, int nice_offset, Job job);
  ~TokenizerPool() { stop(); }
  TokenizerPool(const TokenizerPool&) = delete;
  TokenizerPool& operator=(const TokenizerPool&) = delete;

  void push(std::shared_ptr<RequestState> request);
  // Stops and joins the threads; returns the requests no thread took.
  std::deque<std::shared_ptr<RequestState>> stop();

 private:
  void loop();

  Job job_;
  int nice_offset_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<RequestState>> waiting_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace rerankd
