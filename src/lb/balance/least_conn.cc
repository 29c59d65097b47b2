// `balance leastconn`: the server with the least load relative to its weight, ties taken in
// turn. Load is haproxy's fwlc key: 0 when idle, else (conns + queued + 1) / weight, so idle
// servers come first whatever their weight, and weights matter once traffic builds up.
#include "lb/balance/internal.h"

namespace tandem::lb::detail {
namespace {

class LeastConn final : public Balancer {
 public:
  explicit LeastConn(const BalanceSpec& spec) : all_backups_(spec.all_backups) {}

  void rebuild(std::span<const ServerView> servers, core::TimePoint /*now*/) override {
    size_ = servers.size();
    last_ = servers.empty() ? 0 : servers.size() - 1;
  }

  PickResult pick(const PickContext& ctx, std::span<const ServerView> servers,
                  core::TimePoint now) override {
    if (size_ != servers.size()) rebuild(servers, now);
    return pick_in_group(servers, all_backups_, ctx.exclude,
                         [&](const Group& g, std::optional<uint32_t> exclude) {
                           return choose(g, exclude, servers, now);
                         });
  }

 private:
  struct Load {
    uint64_t num;  // 0 or in-flight + 1
    uint64_t den;  // effective weight, > 0 for a candidate
    bool operator<(const Load& o) const { return num * o.den < o.num * den; }
  };

  // Scanning from the server after the last pick makes equal loads rotate: the first of the
  // least loaded in that order wins, as haproxy requeues a used server behind its equals.
  std::optional<size_t> choose(const Group& g, std::optional<uint32_t> exclude,
                               std::span<const ServerView> servers, core::TimePoint now) {
    const size_t n = servers.size();
    std::optional<size_t> best;
    Load best_load{0, 1};
    for (size_t k = 1; k <= n; ++k) {
      const size_t i = (last_ + k) % n;
      const ServerView& s = servers[i];
      if (!is_candidate(s, i, g, exclude, now)) continue;
      const uint64_t inflight = uint64_t{s.active_conns} + s.queued;
      const Load load{inflight == 0 ? 0 : inflight + 1, effective_weight(s, now)};
      if (!best || load < best_load) {
        best = i;
        best_load = load;
      }
    }
    if (best) last_ = *best;
    return best;
  }

  bool all_backups_;
  size_t size_ = static_cast<size_t>(-1);
  size_t last_ = 0;
};

}  // namespace

BalancerPtr make_least_conn(const BalanceSpec& spec) {
  return std::make_unique<LeastConn>(spec);
}

}  // namespace tandem::lb::detail
