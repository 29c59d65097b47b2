// `balance source|uri|hdr` with `hash-type consistent`: a ring with weight * 16 points per
// server, placed as haproxy's lb_chash does (avalanche(id * 4096 + k)) and looked up the same
// way (the closer of the points around the key), so when a server leaves only its keys move.
// Dynamic: during slowstart a server owns only its first effective-weight points. Without a key
// it falls back to `roundrobin` (haproxy walks the ring instead).
#include <algorithm>
#include <vector>

#include "lb/balance/hash.h"
#include "lb/balance/internal.h"

namespace tandem::lb::detail {
namespace {

// haproxy's SRV_EWGHT_RANGE: the most points one server can own.
constexpr uint32_t kPointRange = kMaxWeight * kWeightScale;

struct Point {
  uint32_t hash;
  uint32_t index;  // of the server in the pool array
  uint32_t k;      // the point's rank for its server: live while k < effective weight
  bool operator<(const Point& o) const {
    return hash != o.hash ? hash < o.hash : index != o.index ? index < o.index : k < o.k;
  }
};

class ConsistentHash final : public Balancer {
 public:
  explicit ConsistentHash(const BalanceSpec& spec)
      : spec_(spec), fallback_(make_round_robin(spec)) {}

  // Every server with a weight gets its points whatever its state: a server down or full is
  // skipped at lookup, which moves exactly its own keys, as removing its points would.
  void rebuild(std::span<const ServerView> servers, core::TimePoint now) override {
    size_ = servers.size();
    active_.clear();
    backup_.clear();
    for (uint32_t i = 0; i < servers.size(); ++i) {
      const ServerView& s = servers[i];
      const uint32_t points = std::min(s.weight, kMaxWeight) * kWeightScale;
      auto& ring = s.backup ? backup_ : active_;
      for (uint32_t k = 0; k < points; ++k) {
        ring.push_back({hash_avalanche(s.id * kPointRange + k), i, k});
      }
    }
    std::sort(active_.begin(), active_.end());
    std::sort(backup_.begin(), backup_.end());
    fallback_->rebuild(servers, now);
  }

  PickResult pick(const PickContext& ctx, std::span<const ServerView> servers,
                  core::TimePoint now) override {
    if (size_ != servers.size()) rebuild(servers, now);
    const std::optional<uint32_t> hash = request_hash(spec_, ctx);
    if (!hash) return fallback_->pick(ctx, servers, now);
    return pick_keyed(servers, spec_.all_backups, ctx.exclude, now,
                      [&](const Group& g, std::optional<uint32_t> exclude) {
                        const auto& ring = g.kind == Group::Kind::kBackup ? backup_ : active_;
                        return lookup(ring, *hash, g, exclude, servers, now);
                      });
  }

 private:
  static std::optional<size_t> lookup(const std::vector<Point>& ring, uint32_t hash, const Group& g,
                                      std::optional<uint32_t> exclude,
                                      std::span<const ServerView> servers, core::TimePoint now) {
    const size_t n = ring.size();
    auto live = [&](const Point& p) {
      const ServerView& s = servers[p.index];
      return g.contains(s, p.index) && p.k < effective_weight(s, now);
    };
    if (n == 0) return std::nullopt;
    const size_t ge = static_cast<size_t>(
        std::lower_bound(ring.begin(), ring.end(), Point{hash, 0, 0}) - ring.begin());
    // The first live point at or after the key, and the last one before it.
    size_t next = n;
    for (size_t k = 0; k < n; ++k) {
      if (live(ring[(ge + k) % n])) {
        next = (ge + k) % n;
        break;
      }
    }
    if (next == n) return std::nullopt;
    size_t prev = next;
    for (size_t k = 1; k <= n; ++k) {
      const size_t at = (ge + n - k) % n;
      if (live(ring[at])) {
        prev = at;
        break;
      }
    }
    // The closer point wins (unsigned arithmetic wraps around the ring).
    const uint32_t dn = ring[next].hash - hash;
    const uint32_t dp = hash - ring[prev].hash;
    const size_t chosen = dp <= dn ? prev : next;
    // An excluded server hands the key on along the ring; a full one keeps it.
    for (size_t k = 0; k < n; ++k) {
      const Point& p = ring[(chosen + k) % n];
      if (live(p) && (!exclude || servers[p.index].id != *exclude)) return p.index;
    }
    return std::nullopt;
  }

  BalanceSpec spec_;
  BalancerPtr fallback_;
  size_t size_ = static_cast<size_t>(-1);
  std::vector<Point> active_, backup_;
};

}  // namespace

BalancerPtr make_consistent_hash(const BalanceSpec& spec) {
  return std::make_unique<ConsistentHash>(spec);
}

}  // namespace tandem::lb::detail
