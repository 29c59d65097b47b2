#include "vrrp/fsm.h"

#include <gtest/gtest.h>

namespace tandem::vrrp {
namespace {

using core::Duration;
using core::TimePoint;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Kind = Action::Kind;

const IpAddress kUs = IpAddress::v4(198, 18, 0, 2);
const IpAddress kLow = IpAddress::v4(198, 18, 0, 1);
const IpAddress kHigh = IpAddress::v4(198, 18, 0, 3);
const TimePoint t0(seconds(100));

FsmConfig config(uint8_t priority, uint8_t version = 2, Duration interval = seconds(1)) {
  FsmConfig c;
  c.version = version;
  c.priority = priority;
  c.advert_interval = interval;
  c.primary = kUs;
  return c;
}

std::vector<Kind> kinds(const Actions& actions) {
  std::vector<Kind> out;
  for (const auto& a : actions) out.push_back(a.kind);
  return out;
}

const Action* find(const Actions& actions, Kind k) {
  for (const auto& a : actions)
    if (a.kind == k) return &a;
  return nullptr;
}

TEST(Fsm, SkewAndMasterDownIntervalFollowTheRfcs) {
  Fsm v2(config(100));
  // v2: (256 - 100) / 256 s = 609.375 ms
  EXPECT_EQ(v2.skew_time(), std::chrono::microseconds(609375));
  EXPECT_EQ(v2.master_down_interval(), std::chrono::microseconds(3'609'375));
  Fsm v3(config(200, 3, milliseconds(100)));
  // v3: (256 - 200) * 100 ms / 256 = 21.875 ms
  EXPECT_EQ(v3.skew_time(), std::chrono::microseconds(21875));
  EXPECT_EQ(v3.master_down_interval(), std::chrono::microseconds(321875));
}

TEST(Fsm, BackupBecomesMasterWhenNoAdvertArrivesWithinMasterDownInterval) {
  Fsm f(config(100));
  auto a = f.start(t0);
  ASSERT_EQ(kinds(a), std::vector<Kind>{Kind::kStateChange});
  EXPECT_EQ(a[0].to, State::kBackup);
  EXPECT_EQ(f.next_deadline(), t0 + f.master_down_interval());
  EXPECT_TRUE(f.on_timer(t0 + seconds(3)).empty());
  a = f.on_timer(f.next_deadline());
  EXPECT_EQ(kinds(a), (std::vector<Kind>{Kind::kStateChange, Kind::kSendAdvert, Kind::kAddAddresses,
                                         Kind::kAnnounce}));
  EXPECT_EQ(a[0].from, State::kBackup);
  EXPECT_EQ(a[0].to, State::kMaster);
  EXPECT_EQ(a[0].reason, "master down timer expired");
  EXPECT_EQ(a[1].priority, 100);
  EXPECT_EQ(f.state(), State::kMaster);
}

TEST(Fsm, MasterAdvertisesEveryInterval) {
  Fsm f(config(255));
  auto a = f.start(t0);
  EXPECT_EQ(f.state(), State::kMaster);
  EXPECT_EQ(a[0].reason, "priority 255: we own the addresses");
  TimePoint now = t0;
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(f.next_deadline(), now + seconds(1));
    now = f.next_deadline();
    a = f.on_timer(now);
    ASSERT_EQ(kinds(a), std::vector<Kind>{Kind::kSendAdvert});
    EXPECT_EQ(a[0].priority, 255);
  }
}

TEST(Fsm, StateMasterStartsAsMaster) {
  auto c = config(101);
  c.start_as_master = true;
  Fsm f(c);
  auto a = f.start(t0);
  EXPECT_EQ(f.state(), State::kMaster);
  EXPECT_NE(find(a, Kind::kAddAddresses), nullptr);
}

TEST(Fsm, BackupHearingTheMasterWaitsAgain) {
  Fsm f(config(100));
  f.start(t0);
  auto a = f.receive(t0 + seconds(2), {kHigh, 150, seconds(1)});
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(f.next_deadline(), t0 + seconds(2) + f.master_down_interval());
  EXPECT_EQ(f.master_address(), kHigh);
}

TEST(Fsm, PriorityZeroMakesBackupsWaitOnlyTheSkew) {
  Fsm f(config(100));
  f.start(t0);
  f.receive(t0 + seconds(1), {kHigh, 150, seconds(1)});
  f.receive(t0 + seconds(2), {kHigh, 0, seconds(1)});
  EXPECT_EQ(f.next_deadline(), t0 + seconds(2) + f.skew_time());
  auto a = f.on_timer(f.next_deadline());
  EXPECT_EQ(f.state(), State::kMaster);
  EXPECT_EQ(a[0].reason, "the master left (priority 0)");
}

TEST(Fsm, V3BackupAdoptsTheMastersInterval) {
  Fsm f(config(100, 3, seconds(1)));
  f.start(t0);
  f.receive(t0, {kHigh, 200, milliseconds(100)});
  EXPECT_EQ(f.master_advert_interval(), milliseconds(100));
  // 3 x 100 ms + (256 - 100) x 100 ms / 256
  EXPECT_EQ(f.master_down_interval(), std::chrono::microseconds(300000 + 60937));
  EXPECT_EQ(f.next_deadline(), t0 + f.master_down_interval());
  // v2 ignores the field: the interval must match the configuration there.
  Fsm g(config(100, 2, seconds(1)));
  g.start(t0);
  g.receive(t0, {kHigh, 200, seconds(3)});
  EXPECT_EQ(g.master_advert_interval(), seconds(1));
}

TEST(Fsm, MasterStepsDownForHigherPriorityOrEqualPriorityFromHigherAddress) {
  for (auto [prio, src, steps_down] :
       {std::tuple{uint8_t{150}, kLow, true}, std::tuple{uint8_t{100}, kHigh, true},
        std::tuple{uint8_t{100}, kLow, false}, std::tuple{uint8_t{50}, kHigh, false}}) {
    auto c = config(100);
    c.start_as_master = true;
    Fsm f(c);
    f.start(t0);
    auto a = f.receive(t0 + milliseconds(10), {src, prio, seconds(1)});
    if (steps_down) {
      EXPECT_EQ(f.state(), State::kBackup) << int(prio) << " " << src;
      EXPECT_EQ(kinds(a), (std::vector<Kind>{Kind::kRemoveAddresses, Kind::kStateChange}));
      EXPECT_EQ(f.next_deadline(), t0 + milliseconds(10) + f.master_down_interval());
    } else {
      EXPECT_EQ(f.state(), State::kMaster) << int(prio) << " " << src;
      // It answers at once so the other master steps down within a round trip.
      const Action* send = find(a, Kind::kSendAdvert);
      ASSERT_NE(send, nullptr);
      EXPECT_EQ(send->priority, 100);
      EXPECT_EQ(find(a, Kind::kMasterRxLowerPri) != nullptr, prio < 100);
    }
  }
}

TEST(Fsm, BackupPreemptsALowerMasterAtOnceUnlessNopreempt) {
  Fsm f(config(150));
  f.start(t0);
  auto a = f.receive(t0 + seconds(1), {kLow, 100, seconds(1)});
  EXPECT_EQ(f.state(), State::kMaster);
  EXPECT_NE(a[0].reason.find("preempting 198.18.0.1 (priority 100 < ours 150)"), std::string::npos);

  auto c = config(150);
  c.preempt = false;
  Fsm g(c);
  g.start(t0);
  for (int i = 1; i <= 10; ++i) {
    EXPECT_TRUE(g.receive(t0 + seconds(i), {kLow, 100, seconds(1)}).empty());
    g.on_timer(t0 + seconds(i));
  }
  EXPECT_EQ(g.state(), State::kBackup);
}

TEST(Fsm, PreemptDelayHoldsPreemptionThenTakesOver) {
  auto c = config(150);
  c.preempt_delay = seconds(5);
  Fsm f(c);
  f.start(t0);
  TimePoint now = t0;
  for (int i = 1; i <= 4; ++i) {
    now = t0 + seconds(i);
    f.receive(now, {kLow, 100, seconds(1)});
    EXPECT_EQ(f.state(), State::kBackup);
  }
  EXPECT_EQ(f.next_deadline(), t0 + seconds(5));
  auto a = f.on_timer(t0 + seconds(5));
  EXPECT_EQ(f.state(), State::kMaster);
  EXPECT_NE(a[0].reason.find("preempt delay over"), std::string::npos);
}

TEST(Fsm, StopAsMasterSendsPriorityZeroAndRemovesAddresses) {
  Fsm f(config(255));
  f.start(t0);
  auto a = f.stop(t0 + seconds(1));
  EXPECT_EQ(kinds(a),
            (std::vector<Kind>{Kind::kSendAdvert, Kind::kRemoveAddresses, Kind::kStateChange}));
  EXPECT_EQ(a[0].priority, 0);
  EXPECT_EQ(a[2].to, State::kInit);
  EXPECT_EQ(f.next_deadline(), TimePoint::max());
}

TEST(Fsm, HandoverStopKeepsTheAddressesUntilABackupTakesOver) {
  Fsm f(config(255));
  f.start(t0);
  auto a = f.stop_handover(t0 + seconds(1));
  ASSERT_EQ(kinds(a), std::vector<Kind>{Kind::kSendAdvert});
  EXPECT_EQ(a[0].priority, 0);
  EXPECT_TRUE(f.leaving());
  EXPECT_EQ(f.state(), State::kMaster);  // still answering for the addresses
  // No more periodic adverts; a priority-0 advert from another leaving router changes nothing.
  EXPECT_TRUE(f.on_timer(t0 + seconds(1) + milliseconds(500)).empty());
  EXPECT_TRUE(f.receive(t0 + seconds(1) + milliseconds(600), {kLow, 0, seconds(1)}).empty());
  a = f.receive(t0 + seconds(1) + milliseconds(700), {kLow, 100, seconds(1)});
  EXPECT_EQ(kinds(a), (std::vector<Kind>{Kind::kRemoveAddresses, Kind::kStateChange}));
  EXPECT_EQ(a[1].reason, "stop: 198.18.0.1 took over");
  EXPECT_EQ(f.state(), State::kInit);
  EXPECT_EQ(f.next_deadline(), TimePoint::max());
}

TEST(Fsm, HandoverStopEndsAfterMasterDownIntervalWithoutABackup) {
  Fsm f(config(255));
  f.start(t0);
  f.stop_handover(t0);
  EXPECT_EQ(f.next_deadline(), t0 + f.master_down_interval());
  auto a = f.on_timer(f.next_deadline());
  EXPECT_EQ(kinds(a), (std::vector<Kind>{Kind::kRemoveAddresses, Kind::kStateChange}));
  EXPECT_EQ(a[1].reason, "stop: no backup took over within Master_Down_Interval");
  // A backup just stops.
  Fsm b(config(100));
  b.start(t0);
  a = b.stop_handover(t0);
  EXPECT_EQ(b.state(), State::kInit);
}

TEST(Fsm, MasterAnnouncesALowerPriorityAtOnce) {
  auto c = config(200);
  c.start_as_master = true;
  Fsm f(c);
  f.start(t0);
  auto a = f.set_priority(t0 + milliseconds(300), 90);
  ASSERT_EQ(kinds(a), std::vector<Kind>{Kind::kSendAdvert});
  EXPECT_EQ(a[0].priority, 90);
  EXPECT_EQ(f.next_deadline(), t0 + milliseconds(1300));
  EXPECT_TRUE(f.set_priority(t0 + milliseconds(400), 90).empty());
}

TEST(Fsm, OwnerIgnoresTrackingWeights) {
  Fsm f(config(255));
  f.start(t0);
  EXPECT_TRUE(f.set_priority(t0, 200).empty());
  EXPECT_EQ(f.priority(), 255);
}

TEST(Fsm, FaultLeavesMasterAndRecoveryReturnsToBackup) {
  auto c = config(100);
  c.start_as_master = true;
  Fsm f(c);
  f.start(t0);
  auto a = f.set_fault(t0 + seconds(1), true);
  EXPECT_EQ(kinds(a),
            (std::vector<Kind>{Kind::kSendAdvert, Kind::kRemoveAddresses, Kind::kStateChange}));
  EXPECT_EQ(a[0].priority, 0);
  EXPECT_EQ(f.state(), State::kFault);
  EXPECT_EQ(f.next_deadline(), TimePoint::max());
  EXPECT_TRUE(f.receive(t0 + seconds(2), {kLow, 50, seconds(1)}).empty());
  a = f.set_fault(t0 + seconds(3), false);
  EXPECT_EQ(f.state(), State::kBackup);
  EXPECT_EQ(f.next_deadline(), t0 + seconds(3) + f.master_down_interval());
}

TEST(Fsm, SyncGroupForcingMovesOnlyBetweenBackupAndMaster) {
  Fsm f(config(100));
  f.start(t0);
  auto a = f.force_master(t0 + seconds(1), "sync group G: VI_2 is MASTER");
  EXPECT_EQ(f.state(), State::kMaster);
  EXPECT_EQ(a[0].reason, "sync group G: VI_2 is MASTER");
  EXPECT_NE(find(a, Kind::kAddAddresses), nullptr);
  EXPECT_TRUE(f.force_master(t0 + seconds(1), "again").empty());
  a = f.force_backup(t0 + seconds(2), "sync group G: VI_2 is BACKUP");
  EXPECT_EQ(f.state(), State::kBackup);
  EXPECT_NE(find(a, Kind::kRemoveAddresses), nullptr);
  f.set_fault(t0 + seconds(3), true);
  EXPECT_TRUE(f.force_master(t0 + seconds(3), "no").empty());
  EXPECT_EQ(f.state(), State::kFault);
}

TEST(Fsm, FaultAtStartStaysInFault) {
  Fsm f(config(100));
  f.set_fault(t0, true);
  auto a = f.start(t0);
  EXPECT_EQ(f.state(), State::kFault);
  EXPECT_EQ(a[0].to, State::kFault);
}

}  // namespace
}  // namespace tandem::vrrp
