#include "server/rate_limiter.h"

#include <algorithm>
#include <cstdio>

#include "common/error.h"

namespace rerankd::server {
namespace {

// Refilling in floating point: a bucket a hair short of a whole token has it.
constexpr double kSlack = 1e-9;

std::string show(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3g", value);
  return text;
}

}  // namespace

struct RateLimiter::Tenant {
  Rates rates;
  Refusals refused;
  std::mutex mutex;
  Buckets buckets;  // starts full: `updated` at the clock's epoch
};

struct RateLimiter::Tracked {
  std::string id;
  Buckets buckets;
};

RateLimiter::RateLimiter(const RateLimitOptions& limits, std::span<const TenantSettings> tenants,
                         std::span<const std::string> key_ids, MetricsRegistry& registry, size_t max_tracked)
    : burst_seconds_(limits.burst_seconds),
      defaults_(rates(limits.requests_per_second, limits.pairs_per_second)),
      registry_(registry),
      max_tracked_(std::max<size_t>(1, max_tracked)) {
  const auto add = [&](const std::string& id, Rates r) {
    auto tenant = std::make_unique<Tenant>();
    tenant->rates = r;
    tenant->buckets = {{r.requests.capacity, {}}, {r.pairs.capacity, {}}};
    if (r.requests.per_second > 0 || r.pairs.per_second > 0) tenant->refused = refusals(id);
    tenants_.insert_or_assign(id, std::move(tenant));
  };
  for (const std::string& id : key_ids) add(id, defaults_);
  for (const TenantSettings& t : tenants) {
    add(t.id, rates(t.requests_per_second.value_or(limits.requests_per_second),
                    t.pairs_per_second.value_or(limits.pairs_per_second)));
  }
  // With keys, every identity is a key's: addresses are never limited by the table.
  if (key_ids.empty() && (defaults_.requests.per_second > 0 || defaults_.pairs.per_second > 0)) {
    address_refusals_ = refusals("address");
    registry_.gauge_callback("rerankd_rate_limit_tracked_clients",
                             "Client addresses whose rate limit buckets are remembered (idle ones are forgotten as "
                             "others come; at most " + std::to_string(max_tracked_) + ")",
                             [this] { return static_cast<double>(tracked()); });
  }
}

RateLimiter::~RateLimiter() = default;

RateLimiter::Rates RateLimiter::rates(double requests_per_second, double pairs_per_second) const {
  // At least one request (one pair): a bucket that cannot hold one would refuse everything.
  const auto rate = [&](double per_second) {
    return Rate{per_second, per_second > 0 ? std::max(1.0, per_second * burst_seconds_) : 0};
  };
  return {rate(requests_per_second), rate(pairs_per_second)};
}

RateLimiter::Refusals RateLimiter::refusals(const std::string& label) {
  const auto counter = [&](const char* limit) {
    return &registry_.counter("rerankd_rate_limited_requests_total",
                              "Requests refused 429 by a client's rate limit, by tenant (an API key's id, a configured "
                              "tenant's, or \"address\" for any other client address) and limit (requests/s or pairs/s)",
                              {{"tenant", label}, {"limit", limit}});
  };
  return {counter("requests"), counter("pairs")};
}

void RateLimiter::admit_request(const ClientIdentity& who, Clock::time_point now) {
  admit(who, Limit::kRequests, 1, now);
}

void RateLimiter::admit_pairs(const ClientIdentity& who, size_t pairs, Clock::time_point now) {
  admit(who, Limit::kPairs, static_cast<double>(pairs), now);
}

double RateLimiter::take(Bucket& bucket, const Rate& rate, double tokens, Clock::time_point now) {
  if (now > bucket.updated) {
    bucket.tokens = std::min(rate.capacity, bucket.tokens + rate.per_second * seconds_between(bucket.updated, now));
    bucket.updated = now;
  }
  if (bucket.tokens + kSlack >= tokens) {
    bucket.tokens = std::max(0.0, bucket.tokens - tokens);
    return 0;
  }
  return (tokens - bucket.tokens) / rate.per_second;
}

void RateLimiter::admit(const ClientIdentity& who, Limit limit, double tokens, Clock::time_point now) {
  const std::string_view id = who.str();
  const auto tenant = tenants_.find(id);
  const Rates& rates = tenant != tenants_.end() ? tenant->second->rates : defaults_;
  const Rate& rate = limit == Limit::kRequests ? rates.requests : rates.pairs;
  if (rate.per_second <= 0) return;
  if (tokens > rate.capacity + kSlack) {  // only pairs can: a request is one token, and a bucket holds one
    throw Error(Error::Kind::kTooLarge, std::string(id) + "'s rate limit is " + show(rate.per_second) +
                                            " pairs/s in bursts of at most " + show(rate.capacity) + ": a request of " +
                                            show(tokens) + " documents can never pass. Send at most " +
                                            show(rate.capacity) + " documents per request");
  }
  double wait = 0;
  const Refusals* refused = &address_refusals_;
  if (tenant != tenants_.end()) {
    Tenant& t = *tenant->second;
    std::lock_guard lock(t.mutex);
    wait = take(limit == Limit::kRequests ? t.buckets.requests : t.buckets.pairs, rate, tokens, now);
    refused = &t.refused;
  } else {
    std::lock_guard lock(table_mutex_);
    Buckets& buckets = tracked_buckets(id, now);
    wait = take(limit == Limit::kRequests ? buckets.requests : buckets.pairs, rate, tokens, now);
  }
  if (wait <= 0) return;
  Counter* counter = limit == Limit::kRequests ? refused->requests : refused->pairs;
  if (counter != nullptr) counter->inc();
  const std::string what = limit == Limit::kRequests ? " requests/s" : " pairs/s (documents)";
  throw Error(Error::Kind::kRateLimited,
              "rate limited: " + std::string(id) + " may send " + show(rate.per_second) + what + ", in bursts of " +
                  show(rate.capacity) + "; this request would fit in " + show(wait) + " s",
              wait);
}

RateLimiter::Buckets& RateLimiter::tracked_buckets(std::string_view id, Clock::time_point now) {
  // Idle clients leave as others come: whatever is full at the cold end goes, a little at a time.
  for (int i = 0; i < 2 && !coldest_last_.empty() && full(coldest_last_.back().buckets, now); ++i) drop_coldest();
  if (const auto found = table_.find(id); found != table_.end()) {
    coldest_last_.splice(coldest_last_.begin(), coldest_last_, found->second);
    return found->second->buckets;
  }
  // Past the cap the coldest goes even if not full: its client gets a full bucket back should it
  // return, the price of bounded memory against more addresses than the cap.
  if (coldest_last_.size() >= max_tracked_) drop_coldest();
  coldest_last_.push_front(Tracked{std::string(id), {{defaults_.requests.capacity, now}, {defaults_.pairs.capacity, now}}});
  table_.emplace(coldest_last_.front().id, coldest_last_.begin());
  return coldest_last_.front().buckets;
}

bool RateLimiter::full(const Buckets& b, Clock::time_point now) const {
  const auto full_bucket = [&](const Bucket& bucket, const Rate& rate) {
    return rate.per_second <= 0 ||
           bucket.tokens + rate.per_second * seconds_between(bucket.updated, now) + kSlack >= rate.capacity;
  };
  return full_bucket(b.requests, defaults_.requests) && full_bucket(b.pairs, defaults_.pairs);
}

void RateLimiter::drop_coldest() {
  table_.erase(coldest_last_.back().id);
  coldest_last_.pop_back();
}

size_t RateLimiter::tracked() const {
  std::lock_guard lock(table_mutex_);
  return coldest_last_.size();
}

}  // namespace rerankd::server
