// `balance roundrobin`: haproxy 2.6's "fast weighted round robin" (fwrr), rebuilt so that the
// same servers, weights and events give the very same sequence of servers as haproxy.
//
// Each group (actives; backups under `option allbackups`) walks a window of `curr_weight`
// positions. A server that was served at position p is due again next_weight / eweight
// positions later (remainders carried in rweight), and the "current" tree orders servers by
// that due position, heavier ones first on ties. Servers not yet placed in this window wait in
// an "init" tree ordered by weight and fill the holes (no server due at the current
// position). Servers due beyond the window go to a "next" tree, which becomes the init tree
// when the window is used up ("switch"). Weights are user weight * kWeightScale, as haproxy's
// BE_WEIGHT_SCALE, so slowstart steps are fine grained. Down, up and weight changes move one
// server in place (they do not restart the rotation), as haproxy does.
//
// Cost: pick() is O(log n) in the trees, plus an O(n) comparison of every server's effective
// weight with the one the trees know (how state, weight and slowstart changes are seen without
// a rebuild); a full or excluded server costs one more O(log n) step each.
#include <algorithm>
#include <cstdint>
#include <set>
#include <vector>

#include "lb/balance/internal.h"

namespace tandem::lb::detail {
namespace {

// haproxy's tree keys: kMaxEweight - weight in the weight-ordered trees; in the current tree
// the due position times kUweightRange plus a tie-breaker favouring heavy servers.
constexpr uint32_t kUweightRange = kMaxWeight;
constexpr uint32_t kMaxEweight = kMaxWeight * kWeightScale;

class RoundRobin final : public Balancer {
 public:
  explicit RoundRobin(const BalanceSpec& spec) : all_backups_(spec.all_backups) {}

  void rebuild(std::span<const ServerView> servers, core::TimePoint now) override {
    if (state_.size() != servers.size()) {
      init(servers, now);
    } else {
      sync(servers, now);
    }
  }

  PickResult pick(const PickContext& ctx, std::span<const ServerView> servers,
                  core::TimePoint now) override {
    rebuild(servers, now);
    const Group g = select_group(servers, all_backups_);
    if (g.kind == Group::Kind::kNone) return PickResult::no_server();
    if (g.only != kAll) {
      // One backup without allbackups: haproxy sends everything to it, rotation aside.
      const ServerView& s = servers[g.only];
      if (!has_free_slot(s, now)) return PickResult::all_full();
      return PickResult::server(s.id);
    }
    const std::optional<size_t> i =
        next_server(group(g.kind == Group::Kind::kBackup), ctx.exclude, servers, now);
    if (!i) return PickResult::all_full();
    return PickResult::server(servers[*i].id);
  }

 private:
  struct Node {
    uint32_t key;
    uint64_t seq;  // insertion order: equal keys come out first in, first out
    uint32_t index;
    bool operator<(const Node& o) const { return key != o.key ? key < o.key : seq < o.seq; }
  };
  using Tree = std::set<Node>;

  struct Grp {
    Tree curr, t0, t1;
    Tree* init = &t0;         // servers waiting for their first place in this window, by weight
    Tree* next = &t1;         // servers due in the following window, by weight
    int64_t curr_pos = 0;     // the position being served
    int64_t curr_weight = 0;  // the total weight this window was sized for
    int64_t next_weight = 0;  // the total weight of the group now
  };

  struct Srv {
    uint32_t eweight = 0;  // what the trees know; 0 = out of rotation
    bool backup = false;
    Tree* tree = nullptr;  // where the server sits, or sat before a dequeue; null = nowhere
    uint32_t key = 0;
    uint64_t seq = 0;
    bool queued = false;
    int64_t npos = 0;  // next due position
    int64_t lpos = 0;  // last served position
    int64_t rweight = 0;
    Tree::node_type node;  // kept while out of a tree, so a pick reinserts without allocating
  };

  Grp& group(bool backup) { return backup ? bck_ : act_; }

  void init(std::span<const ServerView> servers, core::TimePoint now) {
    state_.clear();
    state_.resize(servers.size());
    act_.curr.clear();
    bck_.curr.clear();
    for (Grp* g : {&act_, &bck_}) {
      g->t0.clear();
      g->t1.clear();
      g->init = &g->t0;
      g->next = &g->t1;
      g->next_weight = 0;
    }
    for (size_t i = 0; i < servers.size(); ++i) {
      state_[i].backup = servers[i].backup;
      state_[i].eweight = effective_weight(servers[i], now);
      group(state_[i].backup).next_weight += state_[i].eweight;
    }
    for (Grp* g : {&act_, &bck_}) g->curr_pos = g->curr_weight = g->next_weight;
    for (size_t i = 0; i < servers.size(); ++i) {
      if (state_[i].eweight > 0) queue_by_weight(group(state_[i].backup).init, i);
    }
  }

  // Brings the trees up to date with the servers' effective weights, one server at a time.
  void sync(std::span<const ServerView> servers, core::TimePoint now) {
    for (size_t i = 0; i < servers.size(); ++i) {
      Srv& s = state_[i];
      const uint32_t w = effective_weight(servers[i], now);
      if (servers[i].backup != s.backup) {
        if (s.eweight > 0) set_down(i);
        s.backup = servers[i].backup;
      }
      if (w == s.eweight) continue;
      if (s.eweight == 0) {
        set_up(i, w);
      } else if (w == 0) {
        set_down(i);
      } else {
        update_weight(i, w);
      }
    }
  }

  void set_down(size_t i) {
    Srv& s = state_[i];
    group(s.backup).next_weight -= s.eweight;
    dequeue(i);
    s.tree = nullptr;
    s.eweight = 0;
  }

  // A server back in rotation is placed as if it had last been served now, one step away.
  void set_up(size_t i, uint32_t w) {
    Srv& s = state_[i];
    Grp& g = group(s.backup);
    s.eweight = w;
    g.next_weight += w;
    prepare_extract(i);
    s.npos = g.curr_pos + (g.next_weight + g.curr_weight - g.curr_pos) / w;
    queue(i);
  }

  void update_weight(size_t i, uint32_t w) {
    Srv& s = state_[i];
    Grp& g = group(s.backup);
    g.next_weight += static_cast<int64_t>(w) - s.eweight;
    s.eweight = w;
    if (s.tree == g.init) {
      dequeue(i);
      queue_by_weight(g.init, i);
      return;
    }
    prepare_extract(i);
    // Keep the last served position, take the new step from there, never later than it was
    // due and never on top of the current position.
    const int64_t prev_next = s.npos;
    const int64_t step = g.next_weight / w;
    s.npos = std::min(s.lpos + step, prev_next);
    s.rweight = 0;
    if (s.npos < g.curr_pos + 2) s.npos = g.curr_pos + step;
    dequeue(i);
    queue(i);
  }

  // Position bookkeeping when a server leaves the tree it sits in (haproxy's fwrr_get_srv).
  void prepare_extract(size_t i) {
    Srv& s = state_[i];
    Grp& g = group(s.backup);
    if (s.tree == g.init) {
      s.npos = 0;
      s.rweight = 0;
    } else if (s.tree == g.next) {
      s.npos += g.curr_weight;
    } else if (s.tree == nullptr) {
      s.npos = g.curr_pos;
    }
  }

  void insert(Tree* t, size_t i, uint32_t key) {
    Srv& s = state_[i];
    s.key = key;
    s.seq = ++seq_;
    s.tree = t;
    s.queued = true;
    const Node n{key, s.seq, static_cast<uint32_t>(i)};
    if (s.node.empty()) {
      t->insert(n);
    } else {
      s.node.value() = n;
      t->insert(std::move(s.node));
    }
  }

  void dequeue(size_t i) {
    Srv& s = state_[i];
    if (!s.queued) return;
    s.node = s.tree->extract(Node{s.key, s.seq, static_cast<uint32_t>(i)});
    s.queued = false;
  }

  void queue_by_weight(Tree* t, size_t i) { insert(t, i, kMaxEweight - state_[i].eweight); }

  // Into the current tree at its due position, or into the next tree when it is due beyond
  // this window (or beyond a window the size of the group's new total weight).
  void queue(size_t i) {
    Srv& s = state_[i];
    Grp& g = group(s.backup);
    if (s.eweight == 0) {
      s.tree = nullptr;
      return;
    }
    if (s.npos >= 2 * g.curr_weight || s.npos >= g.curr_weight + g.next_weight) {
      s.npos -= g.curr_weight;
      queue_by_weight(g.next, i);
      return;
    }
    // 32-bit arithmetic on purpose: the key wraps exactly as haproxy's does.
    const uint32_t key = kUweightRange * static_cast<uint32_t>(s.npos) +
                         static_cast<uint32_t>(kMaxEweight + s.rweight - s.eweight) / kWeightScale;
    insert(&g.curr, i, key);
  }

  // The first of the current tree when it is due, else the heaviest server not yet placed in
  // this window, else whatever the current tree holds.
  std::optional<size_t> from_group(Grp& g) {
    std::optional<size_t> first;
    if (!g.curr.empty()) {
      first = g.curr.begin()->index;
      if (state_[*first].npos <= g.curr_pos) return first;
    }
    if (!g.init->empty()) {
      const size_t i = g.init->begin()->index;
      state_[i].npos = 0;
      state_[i].rweight = 0;
      return i;
    }
    return first;
  }

  void update_position(const Grp& g, size_t i) {
    Srv& s = state_[i];
    if (s.npos == 0) s.npos = g.curr_pos;  // first time in this window
    s.lpos = s.npos;
    s.npos += g.next_weight / s.eweight;
    s.rweight += g.next_weight % s.eweight;
    if (s.rweight >= s.eweight) {
      s.rweight -= s.eweight;
      ++s.npos;
    }
  }

  static void switch_trees(Grp& g) {
    std::swap(g.init, g.next);
    g.curr_weight = g.next_weight;
    g.curr_pos = g.curr_weight;
  }

  // haproxy's fwrr_get_next_server: a full or excluded server consumes its turn and is put
  // back afterwards; the excluded one is taken only when nobody else can be; the window
  // switches at most once per pick.
  std::optional<size_t> next_server(Grp& g, std::optional<uint32_t> exclude,
                                    std::span<const ServerView> servers, core::TimePoint now) {
    bool switched = false;
    std::optional<size_t> avoided, chosen;
    skipped_.clear();
    while (!chosen) {
      if (g.curr_weight == 0) g.curr_pos = g.curr_weight = g.next_weight;
      std::optional<size_t> got = from_group(g);
      while (!got) {
        if (switched) break;
        switched = true;
        switch_trees(g);
        got = from_group(g);
      }
      if (!got) {
        chosen = avoided;  // nullopt when every server is full
        break;
      }
      const size_t i = *got;
      update_position(g, i);
      dequeue(i);
      ++g.curr_pos;
      if (has_free_slot(servers[i], now)) {
        if (!exclude || servers[i].id != *exclude || avoided) {
          chosen = i;
          break;
        }
        avoided = i;
      }
      skipped_.push_back(i);
    }
    if (chosen) queue(*chosen);
    for (size_t i : skipped_) {
      if (chosen && i == *chosen) continue;
      // After a switch their places are lost and only their weight counts.
      if (switched) {
        queue_by_weight(g.init, i);
      } else {
        queue(i);
      }
    }
    return chosen;
  }

  bool all_backups_;
  std::vector<Srv> state_;
  Grp act_, bck_;
  uint64_t seq_ = 0;
  std::vector<size_t> skipped_;  // reused: no allocation per pick in the usual case
};

}  // namespace

BalancerPtr make_round_robin(const BalanceSpec& spec) {
  return std::make_unique<RoundRobin>(spec);
}

}  // namespace tandem::lb::detail
