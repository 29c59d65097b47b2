// A simulated network of VRRP routers on a manual clock: lossy links, partitions, healing,
// node death and priority changes, checked in milliseconds of real time.
#include <gtest/gtest.h>

#include <list>
#include <memory>
#include <random>

#include "core/clock.h"
#include "vrrp/fsm.h"

namespace tandem::vrrp {
namespace {

using core::Duration;
using core::ManualClock;
using core::TimePoint;
using std::chrono::milliseconds;
using std::chrono::seconds;

class Network {
 public:
  struct Node {
    std::unique_ptr<Fsm> fsm;
    core::TimerPtr timer;
    bool alive = true;  // false: a dead node neither sends nor receives
    std::vector<std::pair<TimePoint, State>> history;
  };

  explicit Network(uint32_t seed) : rng_(seed) {}

  size_t add(uint8_t priority, uint8_t version = 3, Duration interval = milliseconds(100),
             bool preempt = true) {
    FsmConfig c;
    c.version = version;
    c.priority = priority;
    c.advert_interval = interval;
    c.preempt = preempt;
    c.primary = IpAddress::v4(198, 18, 0, static_cast<uint8_t>(nodes_.size() + 1));
    auto n = std::make_unique<Node>();
    n->fsm = std::make_unique<Fsm>(c);
    n->timer = clock_.make_timer();
    nodes_.push_back(std::move(n));
    return nodes_.size() - 1;
  }

  void start_all() {
    for (size_t i = 0; i < nodes_.size(); ++i) apply(i, nodes_[i]->fsm->start(clock_.now()));
  }
  // Loss in [0, 1] on every link; a partition cuts links between groups completely.
  void set_loss(double loss) { loss_ = loss; }
  void partition(std::vector<int> group_of) { group_of_ = std::move(group_of); }
  void heal() { group_of_.clear(); }
  void kill(size_t i) {
    nodes_[i]->alive = false;
    nodes_[i]->timer->cancel();
  }
  void stop(size_t i) {
    apply(i, nodes_[i]->fsm->stop(clock_.now()));
    nodes_[i]->alive = false;
  }
  void set_priority(size_t i, uint8_t p) {
    apply(i, nodes_[i]->fsm->set_priority(clock_.now(), p));
  }
  // A graceful stop that keeps the addresses until another router has taken over.
  void stop_handover(size_t i) { apply(i, nodes_[i]->fsm->stop_handover(clock_.now())); }
  bool holding_addresses(size_t i) const {
    return nodes_[i]->alive && nodes_[i]->fsm->state() == State::kMaster;  // leaving too
  }

  void run_for(Duration d) {
    const TimePoint end = clock_.now() + d;
    clock_.advance_to(end);
    std::erase_if(in_flight_, [](const core::TimerPtr& t) { return !t->armed(); });
  }

  // Runs in small steps, calling check() after each.
  template <class F>
  void run_checking(Duration d, Duration step, F check) {
    const TimePoint end = clock_.now() + d;
    while (clock_.now() < end) {
      run_for(step);
      check();
    }
  }

  size_t masters() const {
    size_t n = 0;
    for (const auto& node : nodes_)
      if (node->alive && node->fsm->state() == State::kMaster) ++n;
    return n;
  }
  State state(size_t i) const { return nodes_[i]->fsm->state(); }
  const Node& node(size_t i) const { return *nodes_[i]; }
  TimePoint now() const { return clock_.now(); }
  // When node i last became MASTER, or TimePoint::min().
  TimePoint became_master_at(size_t i) const {
    for (auto it = nodes_[i]->history.rbegin(); it != nodes_[i]->history.rend(); ++it)
      if (it->second == State::kMaster) return it->first;
    return TimePoint::min();
  }
  size_t transitions(size_t i) const { return nodes_[i]->history.size(); }

 private:
  bool connected(size_t a, size_t b) const {
    return group_of_.empty() || group_of_[a] == group_of_[b];
  }

  void apply(size_t i, const Actions& actions) {
    Node& n = *nodes_[i];
    for (const auto& a : actions) {
      if (a.kind == Action::Kind::kStateChange) n.history.emplace_back(clock_.now(), a.to);
      if (a.kind == Action::Kind::kSendAdvert && n.alive) send(i, a.priority);
    }
    rearm(i);
  }

  void rearm(size_t i) {
    Node& n = *nodes_[i];
    if (!n.alive) return;
    TimePoint at = n.fsm->next_deadline();
    if (at == TimePoint::max()) {
      n.timer->cancel();
      return;
    }
    n.timer->arm_at(at, [this, i] { apply(i, nodes_[i]->fsm->on_timer(clock_.now())); });
  }

  void send(size_t from, uint8_t priority) {
    ReceivedAdvert advert{nodes_[from]->fsm->config().primary, priority,
                          nodes_[from]->fsm->config().advert_interval};
    for (size_t to = 0; to < nodes_.size(); ++to) {
      if (to == from || !connected(from, to)) continue;
      if (loss_ > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < loss_) continue;
      // 0.2 to 2 ms on the wire.
      Duration delay =
          std::chrono::microseconds(std::uniform_int_distribution<int>(200, 2000)(rng_));
      auto t = clock_.make_timer();
      t->arm_at(clock_.now() + delay, [this, to, advert] {
        if (!nodes_[to]->alive) return;
        apply(to, nodes_[to]->fsm->receive(clock_.now(), advert));
      });
      in_flight_.push_back(std::move(t));
    }
  }

  ManualClock clock_;
  std::mt19937 rng_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::list<core::TimerPtr> in_flight_;
  std::vector<int> group_of_;
  double loss_ = 0;
};

Duration max_master_down(const Network& net, size_t count) {
  Duration d{};
  for (size_t i = 0; i < count; ++i) d = std::max(d, net.node(i).fsm->master_down_interval());
  return d;
}

TEST(FsmSimulation, ThreeRoutersElectTheHighestPriorityAndKeepOneMaster) {
  Network net(1);
  net.add(100);
  net.add(150);
  net.add(200);
  net.start_all();
  net.run_for(seconds(1));
  EXPECT_EQ(net.state(2), State::kMaster);
  EXPECT_EQ(net.state(0), State::kBackup);
  EXPECT_EQ(net.state(1), State::kBackup);
  net.run_checking(seconds(30), milliseconds(5), [&] { ASSERT_EQ(net.masters(), 1u); });
  // Steady: nobody flapped after the election.
  EXPECT_EQ(net.transitions(0), 1u);
  EXPECT_EQ(net.transitions(1), 1u);
  EXPECT_EQ(net.transitions(2), 2u);  // BACKUP, then MASTER
}

TEST(FsmSimulation, LossyLinksThenHealingConvergeWithinOneMasterDownInterval) {
  for (uint32_t seed : {1u, 2u, 3u, 4u, 5u}) {
    Network net(seed);
    net.add(100);
    net.add(150);
    net.add(200);
    net.start_all();
    net.set_loss(0.6);  // bad enough to cause spurious elections
    size_t most_masters = 0;
    net.run_checking(seconds(20), milliseconds(5),
                     [&] { most_masters = std::max(most_masters, net.masters()); });
    EXPECT_GT(most_masters, 1u) << "seed " << seed << ": the loss should have split the pair";
    net.set_loss(0);
    net.run_for(max_master_down(net, 3));
    net.run_checking(seconds(20), milliseconds(5), [&] {
      ASSERT_EQ(net.masters(), 1u) << "seed " << seed;
      ASSERT_EQ(net.state(2), State::kMaster) << "seed " << seed;
    });
  }
}

TEST(FsmSimulation, PartitionGivesEachSideAMasterAndHealingLeavesOne) {
  Network net(7);
  net.add(100);
  net.add(150);
  net.add(200);
  net.start_all();
  net.run_for(seconds(2));
  ASSERT_EQ(net.state(2), State::kMaster);
  net.partition({0, 0, 1});  // the master alone on its side
  net.run_for(max_master_down(net, 3) + milliseconds(50));
  EXPECT_EQ(net.state(1), State::kMaster);  // best on the other side
  EXPECT_EQ(net.state(2), State::kMaster);
  EXPECT_EQ(net.state(0), State::kBackup);
  EXPECT_EQ(net.masters(), 2u);
  net.heal();
  // One advert of the better master, or one answer to the worse one, settles it.
  net.run_for(milliseconds(100) + milliseconds(5));
  EXPECT_EQ(net.masters(), 1u);
  EXPECT_EQ(net.state(2), State::kMaster);
  net.run_checking(seconds(10), milliseconds(5), [&] { ASSERT_EQ(net.masters(), 1u); });
}

TEST(FsmSimulation, MasterDeathIsTakenOverWithinMasterDownInterval) {
  Network net(11);
  net.add(100);
  net.add(150);
  net.add(200);
  net.start_all();
  net.run_for(seconds(2));
  const TimePoint death = net.now();
  net.kill(2);
  net.run_for(seconds(2));
  ASSERT_EQ(net.state(1), State::kMaster);
  EXPECT_EQ(net.state(0), State::kBackup);
  const Duration takeover = net.became_master_at(1) - death;
  const Duration mdi = net.node(1).fsm->master_down_interval();
  EXPECT_LE(takeover, mdi);
  EXPECT_GE(takeover, mdi - milliseconds(100) - milliseconds(2));
}

TEST(FsmSimulation, GracefulStopIsTakenOverWithinTheSkewTime) {
  Network net(13);
  net.add(100);
  net.add(150);
  net.add(200);
  net.start_all();
  net.run_for(seconds(2));
  const TimePoint stop = net.now();
  net.stop(2);
  net.run_checking(seconds(2), milliseconds(1), [&] { ASSERT_LE(net.masters(), 1u); });
  ASSERT_EQ(net.state(1), State::kMaster);
  const Duration takeover = net.became_master_at(1) - stop;
  // skew of priority 150 at 100 ms: 41.4 ms, plus at most 2 ms on the wire.
  EXPECT_LE(takeover, net.node(1).fsm->skew_time() + milliseconds(2));
  EXPECT_EQ(net.state(0), State::kBackup);
}

TEST(FsmSimulation, HandoverStopLeavesNoMomentWithoutAnAddressHolder) {
  Network net(29);
  net.add(100);
  net.add(150);
  net.add(200);
  net.start_all();
  net.run_for(seconds(2));
  ASSERT_EQ(net.state(2), State::kMaster);
  net.stop_handover(2);
  net.run_checking(seconds(1), std::chrono::microseconds(100), [&] {
    ASSERT_TRUE(net.holding_addresses(0) || net.holding_addresses(1) || net.holding_addresses(2))
        << "nobody holds the addresses";
  });
  EXPECT_EQ(net.state(2), State::kInit);
  EXPECT_EQ(net.state(1), State::kMaster);
  EXPECT_EQ(net.state(0), State::kBackup);
}

TEST(FsmSimulation, PriorityDropHandsOverAtOnceAndRecoveryTakesItBack) {
  Network net(17);
  net.add(100);
  net.add(150);
  net.add(200);
  net.start_all();
  net.run_for(seconds(2));
  ASSERT_EQ(net.state(2), State::kMaster);
  const TimePoint drop = net.now();
  net.set_priority(2, 90);  // a tracked script failed with weight -110
  net.run_for(milliseconds(10));
  EXPECT_EQ(net.state(1), State::kMaster);
  EXPECT_EQ(net.state(2), State::kBackup);
  EXPECT_LE(net.became_master_at(1) - drop, milliseconds(5));
  net.set_priority(2, 200);
  // Node 2 preempts at the next advert of node 1 (100 ms).
  net.run_for(milliseconds(110));
  EXPECT_EQ(net.state(2), State::kMaster);
  net.run_checking(seconds(5), milliseconds(5), [&] { ASSERT_EQ(net.masters(), 1u); });
}

TEST(FsmSimulation, NopreemptKeepsTheCurrentMaster) {
  Network net(19);
  net.add(100, 3, milliseconds(100), /*preempt=*/false);
  net.add(200, 3, milliseconds(100), /*preempt=*/false);
  net.start_all();
  net.run_for(seconds(2));
  ASSERT_EQ(net.state(1), State::kMaster);
  net.set_priority(1, 50);
  net.run_for(seconds(5));
  EXPECT_EQ(net.state(1), State::kMaster);  // lower now, but node 0 does not preempt
  EXPECT_EQ(net.state(0), State::kBackup);
}

TEST(FsmSimulation, V2AtOneSecondBehavesTheSame) {
  Network net(23);
  net.add(100, 2, seconds(1));
  net.add(101, 2, seconds(1));
  net.start_all();
  net.run_for(seconds(10));
  ASSERT_EQ(net.state(1), State::kMaster);
  const TimePoint death = net.now();
  net.kill(1);
  net.run_for(seconds(5));
  ASSERT_EQ(net.state(0), State::kMaster);
  EXPECT_LE(net.became_master_at(0) - death, net.node(0).fsm->master_down_interval());
}

}  // namespace
}  // namespace tandem::vrrp
