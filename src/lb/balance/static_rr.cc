// `balance static-rr`: a weighted order fixed at rebuild (weights and states of that moment, no
// slowstart), walked in turn; servers that went down, filled up or are excluded are skipped.
#include <vector>

#include "lb/balance/internal.h"

namespace tandem::lb::detail {
namespace {

class StaticRr final : public Balancer {
 public:
  explicit StaticRr(const BalanceSpec& spec) : all_backups_(spec.all_backups) {}

  void rebuild(std::span<const ServerView> servers, core::TimePoint /*now*/) override {
    size_ = servers.size();
    std::vector<std::pair<uint32_t, uint32_t>> active, backup;
    for (uint32_t i = 0; i < servers.size(); ++i) {
      if (!is_usable(servers[i])) continue;
      (servers[i].backup ? backup : active).emplace_back(i, servers[i].weight);
    }
    active_ = smooth_order(active);
    backup_ = smooth_order(backup);
    active_pos_ = backup_pos_ = 0;
  }

  PickResult pick(const PickContext& ctx, std::span<const ServerView> servers,
                  core::TimePoint now) override {
    if (size_ != servers.size()) rebuild(servers, now);
    return pick_in_group(servers, all_backups_, ctx.exclude,
                         [&](const Group& g, std::optional<uint32_t> exclude) {
                           const bool bk = g.kind == Group::Kind::kBackup;
                           return walk(bk ? backup_ : active_, bk ? backup_pos_ : active_pos_, g,
                                       exclude, servers, now);
                         });
  }

 private:
  static std::optional<size_t> walk(const std::vector<uint32_t>& order, size_t& pos, const Group& g,
                                    std::optional<uint32_t> exclude,
                                    std::span<const ServerView> servers, core::TimePoint now) {
    for (size_t k = 0; k < order.size(); ++k) {
      const size_t at = (pos + k) % order.size();
      const uint32_t i = order[at];
      if (is_candidate(servers[i], i, g, exclude, now)) {
        pos = (at + 1) % order.size();
        return i;
      }
    }
    return first_candidate(servers, g, exclude, now);
  }

  bool all_backups_;
  size_t size_ = static_cast<size_t>(-1);
  std::vector<uint32_t> active_, backup_;
  size_t active_pos_ = 0, backup_pos_ = 0;
};

}  // namespace

BalancerPtr make_static_rr(const BalanceSpec& spec) {
  return std::make_unique<StaticRr>(spec);
}

}  // namespace tandem::lb::detail
