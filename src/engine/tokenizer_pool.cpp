#include "engine/tokenizer_pool.h"

#include <string>
#include <system_error>

#include "common/error.h"
#include "common/thread_role.h"

namespace rerankd {

TokenizerPool::TokenizerPool(int threads, int nice_offset, Job job) : job_(std::move(job)), nice_offset_(nice_offset) {
  try {
    for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back([this] { loop(); });
  } catch (const std::system_error& e) {
    stop();  // joinable std::threads would otherwise terminate the process
    throw Error(Error::Kind::kUnavailable, std::string("cannot start the tokenizer threads: ") + e.what() +
                                               " (out of memory or a process limit)");
  }
}

void TokenizerPool::push(std::shared_ptr<RequestState> request) {
  {
    std::lock_guard lock(mutex_);
    waiting_.push_back(std::move(request));
  }
  cv_.notify_one();
}

std::deque<std::shared_ptr<RequestState>> TokenizerPool::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  std::lock_guard lock(mutex_);
  return std::exchange(waiting_, {});
}

void TokenizerPool::loop() {
  set_thread_role(ThreadRole::kTokenizer, nice_offset_);
  for (;;) {
    std::shared_ptr<RequestState> request;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [this] { return stopping_ || !waiting_.empty(); });
      if (stopping_) return;
      request = std::move(waiting_.front());
      waiting_.pop_front();
    }
    job_(request);
  }
}

}  // namespace rerankd
