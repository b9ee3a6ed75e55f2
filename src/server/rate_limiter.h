#pragma once
// Rate limits per client identity (client_identity.h): two token buckets each, one in requests/s
// and one in pairs/s (a rerank request's documents). A bucket holds burst_seconds of its rate,
// refills continuously, and a request passes when the tokens it needs are there; otherwise it is
// refused with the seconds until they will be (Retry-After).
// Identities named in advance (the API keys' ids and the configured tenants) have buckets for the
// server's life. Others (client addresses, unbounded in number) have buckets in a table that
// forgets them once full again (a full bucket is the same as none), and holds at most
// max_tracked: past that the least recently seen goes, full or not.
// Thread-safe; a known identity's check takes its own lock and allocates nothing. Time is a
// parameter, so that tests drive it.
#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/metrics.h"
#include "engine/clock.h"
#include "server/client_identity.h"
#include "server/server_options.h"
#include "server/tenant_settings.h"

namespace rerankd::server {

class RateLimiter {
 public:
  static constexpr size_t kDefaultMaxTracked = 65536;

  // `key_ids`: the API keys' ids. Metrics: rerankd_rate_limited_requests_total{tenant, limit},
  // tenant being an API key's id or a configured tenant's, or "address" for every other client
  // (so that addresses cannot mint label values).
  RateLimiter(const RateLimitOptions& limits, std::span<const TenantSettings> tenants,
              std::span<const std::string> key_ids, MetricsRegistry& registry,
              size_t max_tracked = kDefaultMaxTracked);
  ~RateLimiter();
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Spends one token of `who`'s requests/s bucket, or throws Error(kRateLimited) with the
  // seconds until the bucket will hold one.
  void admit_request(const ClientIdentity& who, Clock::time_point now);
  // Spends `pairs` tokens of the pairs/s bucket, or throws Error(kRateLimited) likewise, or
  // Error(kTooLarge) when the bucket cannot hold that many even when full.
  void admit_pairs(const ClientIdentity& who, size_t pairs, Clock::time_point now);

  // Identities in the table of those not named in advance.
  size_t tracked() const;

 private:
  enum class Limit { kRequests, kPairs };
  struct Rate {
    double per_second = 0;  // 0: no limit
    double capacity = 0;
  };
  struct Bucket {
    double tokens = 0;
    Clock::time_point updated{};
  };
  struct Buckets {
    Bucket requests, pairs;
  };
  struct Rates {
    Rate requests, pairs;
  };
  struct Refusals {
    Counter* requests = nullptr;
    Counter* pairs = nullptr;
  };
  struct Tenant;
  struct Tracked;
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  void admit(const ClientIdentity& who, Limit limit, double tokens, Clock::time_point now);
  // Refills `bucket` to `now`, then spends `tokens` if it holds them. Returns 0 when it did, else
  // the seconds until it will hold them.
  static double take(Bucket& bucket, const Rate& rate, double tokens, Clock::time_point now);
  Buckets& tracked_buckets(std::string_view id, Clock::time_point now);  // under table_mutex_
  bool full(const Buckets& buckets, Clock::time_point now) const;
  void drop_coldest();
  Rates rates(double requests_per_second, double pairs_per_second) const;
  Refusals refusals(const std::string& label);

  double burst_seconds_;
  Rates defaults_;
  MetricsRegistry& registry_;
  size_t max_tracked_;
  std::unordered_map<std::string, std::unique_ptr<Tenant>, StringHash, std::equal_to<>> tenants_;  // fixed
  Refusals address_refusals_;

  mutable std::mutex table_mutex_;
  std::list<Tracked> coldest_last_;
  std::unordered_map<std::string_view, std::list<Tracked>::iterator> table_;  // views of the ids in coldest_last_
};

}  // namespace rerankd::server
