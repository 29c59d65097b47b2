// `balance static-rr`: haproxy's map-based round robin. rebuild() lays out the server map of
// the weights and states of that moment (see server_map(); no slowstart), and picks walk it from
// where the last one stopped, so 2:1 gives s1 s1 s2 as haproxy does. The walk position survives
// rebuilds (haproxy keeps it when the map is recomputed and restarts at 0 when it falls off the
// end). A server that cannot take the request now (full, excluded, down since the rebuild) is
// passed over; the excluded one is still taken when nobody else can.
//
// Cost: pick() is O(1) when the next slot's server is free, O(slots) at worst.
#include <vector>

#include "lb/balance/internal.h"

namespace tandem::lb::detail {
namespace {

class StaticRr final : public Balancer {
 public:
  explicit StaticRr(const BalanceSpec& spec) : all_backups_(spec.all_backups) {}

  void rebuild(std::span<const ServerView> servers, core::TimePoint /*now*/) override {
    size_ = servers.size();
    map_ = server_map(servers, all_backups_);
  }

  PickResult pick(const PickContext& ctx, std::span<const ServerView> servers,
                  core::TimePoint now) override {
    if (size_ != servers.size()) rebuild(servers, now);
    return pick_in_group(servers, all_backups_, ctx.exclude,
                         [&](const Group& g, std::optional<uint32_t> exclude) {
                           return walk(g, exclude, servers, now);
                         });
  }

 private:
  std::optional<size_t> walk(const Group& g, std::optional<uint32_t> exclude,
                             std::span<const ServerView> servers, core::TimePoint now) {
    if (pos_ >= map_.size()) pos_ = 0;
    const bool backup = g.kind == Group::Kind::kBackup;
    std::optional<size_t> avoided;
    size_t avoided_next = 0;
    size_t at = pos_;
    for (size_t k = 0; k < map_.size(); ++k) {
      const uint32_t i = map_[at];
      const size_t after = at + 1;  // kept unwrapped: a longer map after a rebuild goes on
      at = after == map_.size() ? 0 : after;
      const ServerView& s = servers[i];
      // The map may hold several backups without allbackups (see server_map()): any usable
      // server of the group's kind is fine here.
      if (s.backup != backup || !is_usable(s) || !has_free_slot(s, now)) continue;
      if (exclude && s.id == *exclude) {
        avoided = i;
        avoided_next = after;
        continue;
      }
      pos_ = after;
      return i;
    }
    if (avoided) {
      pos_ = avoided_next;
      return avoided;
    }
    // A server up since the last rebuild is not in the map: still answer while one can.
    return first_candidate(servers, g, exclude, now);
  }

  bool all_backups_;
  size_t size_ = static_cast<size_t>(-1);
  std::vector<uint32_t> map_;
  size_t pos_ = 0;
};

}  // namespace

BalancerPtr make_static_rr(const BalanceSpec& spec) {
  return std::make_unique<StaticRr>(spec);
}

}  // namespace tandem::lb::detail
