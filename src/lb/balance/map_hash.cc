// `balance source|uri|hdr` with `hash-type map-based` (haproxy's default): hash modulo the total
// weight indexes haproxy's server map (server_map(), fixed at rebuild), so a key lands on the
// server haproxy would choose. Most keys move when the pool changes. Without a key it falls back
// to static round robin on the same servers, as haproxy.
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
    map_ = server_map(servers, spec_.all_backups);
    fallback_->rebuild(servers, now);
  }

  PickResult pick(const PickContext& ctx, std::span<const ServerView> servers,
                  core::TimePoint now) override {
    if (size_ != servers.size()) rebuild(servers, now);
    const std::optional<uint32_t> hash = request_hash(spec_, ctx);
    if (!hash) return fallback_->pick(ctx, servers, now);
    return pick_keyed(servers, spec_.all_backups, ctx.exclude, now,
                      [&](const Group& g, std::optional<uint32_t> exclude) {
                        return lookup(map_, *hash, g, exclude, servers);
                      });
  }

 private:
  // The key's slot, or the next slot holding a usable server when that one went down since
  // the rebuild or is excluded: other keys keep their server meanwhile. A full server keeps
  // its keys (the request queues for it).
  static std::optional<size_t> lookup(const std::vector<uint32_t>& table, uint32_t hash,
                                      const Group& g, std::optional<uint32_t> exclude,
                                      std::span<const ServerView> servers) {
    for (size_t k = 0; k < table.size(); ++k) {
      const uint32_t i = table[(hash % table.size() + k) % table.size()];
      const ServerView& s = servers[i];
      // Any server of the group's kind: the map may hold several backups (see server_map()).
      if (s.backup == (g.kind == Group::Kind::kBackup) && is_usable(s) &&
          (!exclude || s.id != *exclude)) {
        return i;
      }
    }
    return std::nullopt;
  }

  BalanceSpec spec_;
  BalancerPtr fallback_;
  size_t size_ = static_cast<size_t>(-1);
  std::vector<uint32_t> map_;  // haproxy's server map: the key's server is map_[hash % size]
};

}  // namespace

BalancerPtr make_map_hash(const BalanceSpec& spec) {
  return std::make_unique<MapHash>(spec);
}

}  // namespace tandem::lb::detail
