// `balance first`: the lowest-id server with a free slot takes the connection, so the fewest
// servers carry the load and the rest can be powered off. Weights are ignored beyond 0.
#include <algorithm>
#include <numeric>
#include <vector>

#include "lb/balance/internal.h"

namespace tandem::lb::detail {
namespace {

class First final : public Balancer {
 public:
  explicit First(const BalanceSpec& spec) : all_backups_(spec.all_backups) {}

  void rebuild(std::span<const ServerView> servers, core::TimePoint /*now*/) override {
    by_id_.resize(servers.size());
    std::iota(by_id_.begin(), by_id_.end(), uint32_t{0});
    std::stable_sort(by_id_.begin(), by_id_.end(),
                     [&](uint32_t a, uint32_t b) { return servers[a].id < servers[b].id; });
  }

  PickResult pick(const PickContext& ctx, std::span<const ServerView> servers,
                  core::TimePoint now) override {
    if (by_id_.size() != servers.size()) rebuild(servers, now);
    return pick_in_group(servers, all_backups_, ctx.exclude,
                         [&](const Group& g, std::optional<uint32_t> exclude) {
                           return choose(g, exclude, servers, now);
                         });
  }

 private:
  std::optional<size_t> choose(const Group& g, std::optional<uint32_t> exclude,
                               std::span<const ServerView> servers, core::TimePoint now) const {
    for (uint32_t i : by_id_) {
      if (is_candidate(servers[i], i, g, exclude, now)) return i;
    }
    return std::nullopt;
  }

  bool all_backups_;
  std::vector<uint32_t> by_id_;  // server indices in id order
};

}  // namespace

BalancerPtr make_first(const BalanceSpec& spec) {
  return std::make_unique<First>(spec);
}

}  // namespace tandem::lb::detail
