// `balance random(N)`: N weighted random draws, the least loaded (conns / weight) of them wins:
// the power of two choices at haproxy's default N = 2. Dynamic: weights and slowstart apply at
// once. haproxy draws through its consistent-hash ring; drawing on cumulative weights instead
// gives exact proportions for the same result.
#include <algorithm>
#include <vector>

#include "lb/balance/internal.h"

namespace tandem::lb::detail {
namespace {

class Random final : public Balancer {
 public:
  explicit Random(const BalanceSpec& spec)
      : all_backups_(spec.all_backups), draws_(std::max<uint32_t>(1, spec.random_draws)) {}

  void rebuild(std::span<const ServerView> servers, core::TimePoint /*now*/) override {
    cumulative_.reserve(servers.size());
    index_.reserve(servers.size());
  }

  PickResult pick(const PickContext& ctx, std::span<const ServerView> servers,
                  core::TimePoint now) override {
    RandomSource& rng = ctx.random != nullptr ? *ctx.random : own_;
    return pick_in_group(servers, all_backups_, ctx.exclude,
                         [&](const Group& g, std::optional<uint32_t> exclude) {
                           return choose(g, exclude, servers, now, rng);
                         });
  }

 private:
  std::optional<size_t> choose(const Group& g, std::optional<uint32_t> exclude,
                               std::span<const ServerView> servers, core::TimePoint now,
                               RandomSource& rng) {
    cumulative_.clear();
    index_.clear();
    uint64_t total = 0;
    for (uint32_t i = 0; i < servers.size(); ++i) {
      if (!is_candidate(servers[i], i, g, exclude, now)) continue;
      total += effective_weight(servers[i], now);
      cumulative_.push_back(total);
      index_.push_back(i);
    }
    if (index_.empty()) return std::nullopt;
    const uint32_t bound = static_cast<uint32_t>(std::min<uint64_t>(total, UINT32_MAX));
    std::optional<size_t> best;
    for (uint32_t d = 0; d < draws_; ++d) {
      const uint64_t x = bounded(rng.next(), bound);
      const size_t at = static_cast<size_t>(
          std::upper_bound(cumulative_.begin(), cumulative_.end(), x) - cumulative_.begin());
      const size_t i = index_[std::min(at, index_.size() - 1)];
      // Keep the earlier draw only when the new one is strictly more loaded, as haproxy.
      if (!best || !more_loaded(servers[i], servers[*best], now)) best = i;
    }
    return best;
  }

  static bool more_loaded(const ServerView& a, const ServerView& b, core::TimePoint now) {
    const uint64_t la = uint64_t{a.active_conns} + a.queued;
    const uint64_t lb = uint64_t{b.active_conns} + b.queued;
    return la * effective_weight(b, now) > lb * effective_weight(a, now);
  }

  bool all_backups_;
  uint32_t draws_;
  SplitMix64 own_{0x7461'6e64'656d'0001ull};  // fixed: pure and reproducible without a source
  std::vector<uint64_t> cumulative_;          // scratch, kept to avoid allocating per pick
  std::vector<uint32_t> index_;
};

}  // namespace

BalancerPtr make_random(const BalanceSpec& spec) {
  return std::make_unique<Random>(spec);
}

}  // namespace tandem::lb::detail
