// `balance source|uri|hdr` with `hash-type map-based` (haproxy's default): hash modulo the total
// weight indexes a weighted table fixed at rebuild. Smooth, but most keys move when the pool
// changes. Without a key it falls back to static round robin on the same servers, as haproxy.
#include <vector>

#include "lb/balance/hash.h"
#include "lb/balance/internal.h"

namespace tandem::lb::detail {
namespace {

class MapHash final : public Balancer {
 public:
  explicit MapHash(const BalanceSpec& spec) : spec_(spec), fallback_(make_static_rr(spec)) {}

  void rebuild(std::span<const ServerView> servers, core::TimePoint now) override {
    size_ = servers.size();
    std::vector<std::pair<uint32_t, uint32_t>> active, backup;
    for (uint32_t i = 0; i < servers.size(); ++i) {
      if (!is_usable(servers[i])) continue;
      (servers[i].backup ? backup : active).emplace_back(i, servers[i].weight);
    }
    active_ = smooth_order(active);
    backup_ = smooth_order(backup);
    fallback_->rebuild(servers, now);
  }

  PickResult pick(const PickContext& ctx, std::span<const ServerView> servers,
                  core::TimePoint now) override {
    if (size_ != servers.size()) rebuild(servers, now);
    const std::optional<uint32_t> hash = request_hash(spec_, ctx);
    if (!hash) return fallback_->pick(ctx, servers, now);
    return pick_in_group(servers, spec_.all_backups, ctx.exclude,
                         [&](const Group& g, std::optional<uint32_t> exclude) {
                           const auto& table = g.kind == Group::Kind::kBackup ? backup_ : active_;
                           return lookup(table, *hash, g, exclude, servers, now);
                         });
  }

 private:
  // The key's slot, or the next slot holding a candidate when that server cannot take it now
  // (went down since the rebuild, full, excluded): other keys keep their server meanwhile.
  static std::optional<size_t> lookup(const std::vector<uint32_t>& table, uint32_t hash,
                                      const Group& g, std::optional<uint32_t> exclude,
                                      std::span<const ServerView> servers, core::TimePoint now) {
    for (size_t k = 0; k < table.size(); ++k) {
      const uint32_t i = table[(hash % table.size() + k) % table.size()];
      if (is_candidate(servers[i], i, g, exclude, now)) return i;
    }
    return first_candidate(servers, g, exclude, now);
  }

  BalanceSpec spec_;
  BalancerPtr fallback_;
  size_t size_ = static_cast<size_t>(-1);
  std::vector<uint32_t> active_, backup_;
};

}  // namespace

BalancerPtr make_map_hash(const BalanceSpec& spec) {
  return std::make_unique<MapHash>(spec);
}

}  // namespace tandem::lb::detail
