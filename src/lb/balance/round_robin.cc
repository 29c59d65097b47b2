// `balance roundrobin`: smooth weighted round robin, dynamic (weights and slowstart apply at
// once). nginx's SWRR rather than haproxy's fwrr trees: the same proportions, interleaved with no
// bursts (5/1/1 -> a a b a c a a), exact counts per cycle, in a few lines and no tree to keep.
// It costs O(servers) per pick where fwrr is O(log servers); fine for the pools of a few hundred
// servers we expect, and haproxy caps roundrobin at 4095 servers anyway.
#include <vector>

#include "lb/balance/internal.h"

namespace tandem::lb::detail {
namespace {

class RoundRobin final : public Balancer {
 public:
  explicit RoundRobin(const BalanceSpec& spec) : all_backups_(spec.all_backups) {}

  void rebuild(std::span<const ServerView> servers, core::TimePoint /*now*/) override {
    current_.assign(servers.size(), 0);
  }

  PickResult pick(const PickContext& ctx, std::span<const ServerView> servers,
                  core::TimePoint now) override {
    if (current_.size() != servers.size()) rebuild(servers, now);
    return pick_in_group(servers, all_backups_, ctx.exclude,
                         [&](const Group& g, std::optional<uint32_t> exclude) {
                           return choose(g, exclude, servers, now);
                         });
  }

 private:
  // Every candidate gains its weight; the richest is picked and pays the total back. Servers
  // left out (full, excluded, down) neither gain nor pay, so they do not burst on return.
  std::optional<size_t> choose(const Group& g, std::optional<uint32_t> exclude,
                               std::span<const ServerView> servers, core::TimePoint now) {
    int64_t total = 0;
    std::optional<size_t> best;
    for (size_t i = 0; i < servers.size(); ++i) {
      if (!is_candidate(servers[i], i, g, exclude, now)) continue;
      const int64_t w = effective_weight(servers[i], now);
      current_[i] += w;
      total += w;
      if (!best || current_[i] > current_[*best]) best = i;
    }
    if (best) current_[*best] -= total;
    return best;
  }

  bool all_backups_;
  std::vector<int64_t> current_;
};

}  // namespace

BalancerPtr make_round_robin(const BalanceSpec& spec) {
  return std::make_unique<RoundRobin>(spec);
}

}  // namespace tandem::lb::detail
