// The rate limiter's token buckets against a virtual clock: the burst, the rate, Retry-After,
// the 413 for a request its bucket can never hold, tenants' own rates, the metrics, and the table
// of address identities (idle ones forgotten, a cap).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"
#include "server/rate_limiter.h"

namespace rerankd::server {
namespace {

// `seconds` after an arbitrary start, on the clock the server uses.
Clock::time_point at(double seconds) {
  return Clock::time_point{} + std::chrono::hours(1) +
         std::chrono::round<Clock::duration>(std::chrono::duration<double>(seconds));
}

RateLimitOptions limits(double requests, double pairs, double burst = 1) {
  return {.requests_per_second = requests, .pairs_per_second = pairs, .burst_seconds = burst};
}

const ClientIdentity kAlice = ClientIdentity::of_key("key-a11ce000");
const ClientIdentity kBob = ClientIdentity::of_key("key-b0b00000");
const std::vector<std::string> kKeyIds{"key-a11ce000", "key-b0b00000"};

ClientIdentity address(int i) {
  return ClientIdentity::of_address(boost::asio::ip::make_address("198.51.100." + std::to_string(i)));
}

// The refusal admit() throws, or a failure when it admits.
template <typename Admit>
Error refusal(Admit admit) {
  try {
    admit();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "admitted";
  return Error(Error::Kind::kInternal, "admitted");
}

TEST(RateLimiter, WithoutLimitsEverythingPasses) {
  MetricsRegistry registry;
  RateLimiter limiter(limits(0, 0), {}, kKeyIds, registry);
  for (int i = 0; i < 1000; ++i) {
    limiter.admit_request(kAlice, at(0));
    limiter.admit_pairs(address(1), 1000, at(0));
  }
  EXPECT_EQ(limiter.tracked(), 0u);
  EXPECT_EQ(registry.render().find("rate_limited"), std::string::npos);
}

TEST(RateLimiter, BurstThenRateAndRetryAfterFromTheBucket) {
  MetricsRegistry registry;
  RateLimiter limiter(limits(2, 0, 2), {}, kKeyIds, registry);  // 2/s, bursts of 4
  for (int i = 0; i < 4; ++i) limiter.admit_request(kAlice, at(0));
  Error refused = refusal([&] { limiter.admit_request(kAlice, at(0)); });
  EXPECT_EQ(refused.kind(), Error::Kind::kRateLimited);
  EXPECT_NEAR(refused.retry_after_seconds(), 0.5, 1e-9);  // one token at 2/s
  refused = refusal([&] { limiter.admit_request(kAlice, at(0.2)); });
  EXPECT_NEAR(refused.retry_after_seconds(), 0.3, 1e-9);
  EXPECT_NE(std::string(refused.what()).find("key-a11ce000"), std::string::npos) << refused.what();
  limiter.admit_request(kAlice, at(0.5));  // exactly when it said
  EXPECT_EQ(refusal([&] { limiter.admit_request(kAlice, at(0.5)); }).kind(), Error::Kind::kRateLimited);
  // Idle for long: the bucket is full, and no fuller than its burst.
  for (int i = 0; i < 4; ++i) limiter.admit_request(kAlice, at(100));
  EXPECT_EQ(refusal([&] { limiter.admit_request(kAlice, at(100)); }).kind(), Error::Kind::kRateLimited);
}

TEST(RateLimiter, PairsAreTokensAndRetryAfterSaysWhenTheyAllFit) {
  MetricsRegistry registry;
  RateLimiter limiter(limits(0, 10), {}, kKeyIds, registry);  // 10 pairs/s, bursts of 10
  limiter.admit_pairs(kAlice, 8, at(0));
  const Error refused = refusal([&] { limiter.admit_pairs(kAlice, 5, at(0)); });
  EXPECT_EQ(refused.kind(), Error::Kind::kRateLimited);
  EXPECT_NEAR(refused.retry_after_seconds(), 0.3, 1e-9);  // 2 there, 3 more at 10/s
  limiter.admit_pairs(kAlice, 2, at(0));                   // a refusal spends nothing
  limiter.admit_pairs(kAlice, 3, at(0.3));
  limiter.admit_request(kAlice, at(0.3));  // requests/s unlimited
}

TEST(RateLimiter, PairsBeyondTheBucketCanNeverPass) {
  MetricsRegistry registry;
  RateLimiter limiter(limits(0, 10, 2), {}, kKeyIds, registry);  // bursts of 20
  limiter.admit_pairs(kAlice, 20, at(0));
  const Error never = refusal([&] { limiter.admit_pairs(kBob, 21, at(1000)); });
  EXPECT_EQ(never.kind(), Error::Kind::kTooLarge);
  EXPECT_NE(std::string(never.what()).find("never"), std::string::npos) << never.what();
  EXPECT_NE(std::string(never.what()).find("at most 20"), std::string::npos) << never.what();
}

TEST(RateLimiter, ABucketHoldsAtLeastOneRequestAndOnePair) {
  MetricsRegistry registry;
  RateLimiter limiter(limits(0.1, 0.1), {}, kKeyIds, registry);  // 1 s of 0.1/s is less than one
  limiter.admit_request(kAlice, at(0));
  limiter.admit_pairs(kAlice, 1, at(0));
  EXPECT_NEAR(refusal([&] { limiter.admit_request(kAlice, at(0)); }).retry_after_seconds(), 10, 1e-9);
  EXPECT_EQ(refusal([&] { limiter.admit_pairs(kAlice, 2, at(0)); }).kind(), Error::Kind::kTooLarge);
}

TEST(RateLimiter, EachIdentityHasItsOwnBuckets) {
  MetricsRegistry registry;
  RateLimiter limiter(limits(1, 0), {}, {}, registry);
  limiter.admit_request(address(1), at(0));
  EXPECT_EQ(refusal([&] { limiter.admit_request(address(1), at(0)); }).kind(), Error::Kind::kRateLimited);
  limiter.admit_request(address(2), at(0));
  MetricsRegistry keyed_registry;
  RateLimiter keyed(limits(1, 0), {}, kKeyIds, keyed_registry);
  keyed.admit_request(kAlice, at(0));
  EXPECT_EQ(refusal([&] { keyed.admit_request(kAlice, at(0)); }).kind(), Error::Kind::kRateLimited);
  keyed.admit_request(kBob, at(0));
}

TEST(RateLimiter, TenantSettingsReplaceTheServerWideRates) {
  MetricsRegistry registry;
  const std::vector<TenantSettings> tenants{
      {.id = "key-a11ce000", .weight = 3, .requests_per_second = 0, .pairs_per_second = std::nullopt},
      {.id = "addr-198.51.100.9", .weight = 1, .requests_per_second = 5, .pairs_per_second = std::nullopt}};
  RateLimiter limiter(limits(1, 10), tenants, kKeyIds, registry);
  for (int i = 0; i < 100; ++i) limiter.admit_request(kAlice, at(0));  // requests=0: none
  limiter.admit_pairs(kAlice, 10, at(0));                              // pairs: the server's
  EXPECT_EQ(refusal([&] { limiter.admit_pairs(kAlice, 1, at(0)); }).kind(), Error::Kind::kRateLimited);
  limiter.admit_request(kBob, at(0));
  EXPECT_EQ(refusal([&] { limiter.admit_request(kBob, at(0)); }).kind(), Error::Kind::kRateLimited);
  for (int i = 0; i < 5; ++i) limiter.admit_request(address(9), at(0));
  EXPECT_EQ(refusal([&] { limiter.admit_request(address(9), at(0)); }).kind(), Error::Kind::kRateLimited);
}

TEST(RateLimiter, CountsRefusalsByKeyIdAndAddressesTogether) {
  MetricsRegistry keyed_registry;
  RateLimiter keyed(limits(1, 1), {}, kKeyIds, keyed_registry);
  keyed.admit_request(kAlice, at(0));
  refusal([&] { keyed.admit_request(kAlice, at(0)); });
  keyed.admit_pairs(kAlice, 1, at(0));
  refusal([&] { keyed.admit_pairs(kAlice, 1, at(0)); });
  refusal([&] { keyed.admit_pairs(kAlice, 1, at(0)); });
  std::string text = keyed_registry.render();
  EXPECT_NE(text.find(R"(rerankd_rate_limited_requests_total{tenant="key-a11ce000",limit="requests"} 1)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(rerankd_rate_limited_requests_total{tenant="key-a11ce000",limit="pairs"} 2)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(rerankd_rate_limited_requests_total{tenant="key-b0b00000",limit="requests"} 0)"), std::string::npos) << text;

  MetricsRegistry registry;
  RateLimiter by_address(limits(1, 0), {}, {}, registry);
  for (int i = 1; i <= 3; ++i) {
    by_address.admit_request(address(i), at(0));
    refusal([&] { by_address.admit_request(address(i), at(0)); });
  }
  text = registry.render();
  EXPECT_NE(text.find(R"(rerankd_rate_limited_requests_total{tenant="address",limit="requests"} 3)"), std::string::npos) << text;
  EXPECT_EQ(text.find("198.51.100"), std::string::npos) << text;
  EXPECT_NE(text.find("rerankd_rate_limit_tracked_clients 3"), std::string::npos) << text;
}

TEST(RateLimiter, IdleAddressesAreForgottenAsOthersCome) {
  MetricsRegistry registry;
  RateLimiter limiter(limits(1, 0, 1), {}, {}, registry);  // each full again 1 s after its request
  limiter.admit_request(address(1), at(0));
  limiter.admit_request(address(2), at(0.5));
  EXPECT_EQ(limiter.tracked(), 2u);
  limiter.admit_request(address(3), at(1.2));  // 1 is full again and goes; 2 is not yet
  EXPECT_EQ(limiter.tracked(), 2u);
  limiter.admit_request(address(4), at(1.3));
  EXPECT_EQ(limiter.tracked(), 3u);
  limiter.admit_request(address(5), at(10));  // all full: the two coldest go, a little at a time
  EXPECT_EQ(limiter.tracked(), 2u);
  limiter.admit_request(address(5), at(11));  // 4 and 5 full: none left but 5's new one
  EXPECT_EQ(limiter.tracked(), 1u);
}

TEST(RateLimiter, TheTableIsCappedAndTheColdestGoesFirst) {
  MetricsRegistry registry;
  RateLimiter limiter(limits(1, 0, 1), {}, {}, registry, 3);
  for (int i = 1; i <= 5; ++i) limiter.admit_request(address(i), at(0));  // each spends its one token
  EXPECT_EQ(limiter.tracked(), 3u);
  // 1 was forgotten: it has a full bucket again (the cap's price). 5 was kept and is still empty.
  limiter.admit_request(address(1), at(0));
  EXPECT_EQ(refusal([&] { limiter.admit_request(address(5), at(0)); }).kind(), Error::Kind::kRateLimited);
  EXPECT_EQ(limiter.tracked(), 3u);
}

TEST(RateLimiter, ManyThreadsSpendEachTokenOnce) {
  MetricsRegistry registry;
  RateLimiter limiter(limits(1000, 0, 1), {}, kKeyIds, registry);  // 1000 tokens, no refill at one instant
  RateLimiter by_address(limits(1000, 0, 1), {}, {}, registry);
  std::atomic<int> admitted{0}, admitted_by_address{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        try {
          limiter.admit_request(kAlice, at(0));
          ++admitted;
        } catch (const Error&) {
        }
        try {
          by_address.admit_request(address(1), at(0));
          ++admitted_by_address;
        } catch (const Error&) {
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(admitted.load(), 1000);
  EXPECT_EQ(admitted_by_address.load(), 1000);
}

TEST(RateLimiter, AnEarlierTimeRefillsNothing) {
  MetricsRegistry registry;
  RateLimiter limiter(limits(1, 0), {}, kKeyIds, registry);
  limiter.admit_request(kAlice, at(10));
  // Another io thread read the clock a moment before this one took the lock.
  EXPECT_NEAR(refusal([&] { limiter.admit_request(kAlice, at(9.5)); }).retry_after_seconds(), 1, 1e-9);
  limiter.admit_request(kAlice, at(11));
}

}  // namespace
}  // namespace rerankd::server
