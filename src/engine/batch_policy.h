#pragma once
// The batching policy: which admitted work runs in the next forward pass, in what order requests
// complete, whether a new request can finish before its deadline, and how the model's time is
// shared between tenants. One object serves the server (many requests, each with a deadline and a
// tenant) and offline scoring (one request without either). It holds no threads and reads no
// clock: the caller passes `now`, so it is driven by a virtual clock in tests.
//
// Tenants (API keys, or client addresses): each has its own queue and a weight. Passes are filled
// by weighted fair queueing: the tenant that has had the least model time for its weight goes
// first, so a tenant that floods the server gets its share and no more while others have work.
// Admission predicts a request's completion at its tenant's guaranteed rate (the measured speed
// times its weight over the weights of the tenants active now), so what one tenant queues never
// makes another's admitted requests late. With one tenant all of this reduces to one queue at the
// full measured speed.
//
// Order within a tenant: shortest remaining work first (a request passes those with at least
// twice its work left; similar sizes keep arrival order), so a small request that arrives behind a
// big one is answered first, and requests complete one after another rather than all together. A
// request is only put ahead of others whose deadlines still hold with its work added; each
// request's deadline for this purpose is at most its admission time + `max_queue_seconds` (the
// aging bound), so a big request is never postponed forever. Within a pass a request's pairs run
// longest first, so a pass holds similar lengths.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/clock.h"
#include "engine/forward_cost_model.h"
#include "tensor/batch_bounds.h"

namespace rerankd {

struct PolicyOptions {
  BatchBounds limits;  // max_tokens and max_sequences bound a pass
  double max_pass_seconds = 3;    // latency cap on one pass
  double max_queue_seconds = 30;  // work a request may find ahead of it, and the aging bound
  // Fair-share weights by tenant; a tenant not listed weighs 1.
  std::map<std::string, double, std::less<>> tenant_weights;
};

class BatchPolicy {
 public:
  using RequestId = uint64_t;
  struct PairRef {
    RequestId request;
    size_t index;  // into the lengths given at admission
  };

  explicit BatchPolicy(const PolicyOptions& options);

  struct Admission {
    enum class Outcome { kAdmitted, kQueueFull, kNeverInTime };
    Outcome outcome = Outcome::kAdmitted;
    double finish_seconds = 0;  // predicted completion, from now (0: nothing measured yet)
    double alone_seconds = 0;   // its own model time on an idle server
    double retry_after = 0;     // kQueueFull: seconds until the work ahead leaves room for it
    double share = 1;           // of the model's speed its tenant is guaranteed now
  };
  // Whether a request of at least `min_tokens` for `tenant` could be admitted now, without
  // admitting it: a request refused here is refused by admit() whatever its real size (a bigger
  // one never finishes earlier), so the caller may refuse it before tokenizing it.
  Admission screen(std::string_view tenant, size_t min_tokens, Clock::time_point deadline, Clock::time_point now);
  // Without a measurement yet every request is admitted: nothing predicts it would be late.
  Admission admit(RequestId id, std::span<const size_t> lengths, Clock::time_point deadline, Clock::time_point now,
                  std::string_view tenant = {});
  // Cancelled: its pairs not yet run are dropped. Returns how many.
  size_t remove(RequestId id);

  struct Pass {
    std::vector<PairRef> pairs;  // empty: nothing to run
    size_t tokens = 0;
    // Requests that expired or can no longer meet their deadline even if they ran alone from now:
    // their pairs were dropped and the caller fails them.
    std::vector<RequestId> hopeless;
    size_t hopeless_pairs = 0;
  };
  // Plans the next pass; the pass is then in flight until pass_done. Several may be in flight (a
  // device backend queues the next while one runs): they run one after another and are done in
  // the order planned.
  Pass next_pass(Clock::time_point now);
  void pass_done(size_t tokens, double seconds);
  // A pass that ran outside the plan (a warm-up) still teaches the cost model.
  void record(size_t tokens, double seconds) { cost_.record(tokens, seconds); }

  bool has_work() const { return queued_tokens_ > 0; }
  size_t queued_tokens() const { return queued_tokens_; }
  // Model time of the passes in flight (what is left of them) and everything queued.
  double queued_seconds(Clock::time_point now) const;
  const ForwardCostModel& cost() const { return cost_; }
  // Request ids in completion order within each tenant, the tenants by name.
  std::vector<RequestId> order() const;

 private:
  struct Entry {
    RequestId id = 0;
    std::vector<PairRef> pending;   // longest first
    std::vector<size_t> lengths;    // by pair index
    size_t tokens = 0;              // of the pending pairs
    Clock::time_point deadline;
    Clock::time_point keep;         // min(deadline, admission + max_queue_seconds): what insertions must keep
  };
  struct Tenant {
    double weight = 1;
    std::vector<Entry> queue;  // in completion order
    size_t tokens = 0;         // queued
    // Model time had, in tokens per unit of weight: the fair-queueing clock. A tenant that comes
    // back after idling starts from the least of those with work, so idling banks no credit.
    double served = 0;
    Clock::time_point last_seen{};  // its last admission attempt: it counts as active for a while
  };
  struct Placement {
    size_t at = 0;  // index in the tenant's queue
    Admission admission;
  };

  Tenant& tenant(std::string_view name, Clock::time_point now);
  Placement place(const Tenant& t, size_t tokens, Clock::time_point deadline, Clock::time_point now) const;
  double share_of(const Tenant& t, Clock::time_point now) const;
  bool active(const Tenant& t, Clock::time_point now) const;
  double in_flight_left(Clock::time_point now) const;
  void forget_idle(Clock::time_point now);

  PolicyOptions options_;
  ForwardCostModel cost_;
  std::map<std::string, Tenant, std::less<>> tenants_;
  Clock::time_point last_sweep_{};  // forget_idle's
  size_t queued_tokens_ = 0;
  struct InFlight {
    Clock::time_point planned;
    double predicted = 0;  // seconds
  };
  std::deque<InFlight> in_flight_;  // oldest first
  // When the last pass done ended, as the device's passes run one after another: its planning or
  // the end of the one before, whichever was later, plus its measured time.
  Clock::time_point last_end_{};
};

}  // namespace rerankd
