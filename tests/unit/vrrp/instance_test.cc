#include "vrrp/instance.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "vrrp/os/fakes.h"

namespace tandem::vrrp {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const IpAddress kUs = IpAddress::v4(198, 18, 0, 2);
const IpAddress kPeer = IpAddress::v4(198, 18, 0, 1);
const IpAddress kVip = IpAddress::v4(198, 18, 0, 100);

Instance unicast_instance() {
  Instance i;
  i.name = "VI_1";
  i.interface = "eth0";
  i.vrid = 51;
  i.priority = 100;
  i.version = 2;
  i.advert_interval = seconds(1);
  i.src_ip = kUs;
  i.unicast_peers = {kPeer};
  i.unicast = true;
  i.auth_type = AuthType::kPass;
  i.auth_pass = "s3cret";
  VirtualAddress vip;
  vip.address = kVip;
  vip.prefix_len = 24;
  i.vips = {vip};
  i.garp_master_delay = seconds(5);
  i.garp_master_repeat = 2;
  i.garp_lower_prio_delay = seconds(5);
  i.garp_lower_prio_repeat = 2;
  return i;
}

struct Harness {
  explicit Harness(Instance config = unicast_instance())
      : instance(config, GlobalDefs{}, kUs,
                 VrrpInstance::Deps{
                     clock, socket, addresses, announcer,
                     [this](const VrrpInstance&, const Transition& t) { seen.push_back(t); },
                     nullptr}) {}

  // An advert from the peer as keepalived would send it.
  void peer_advert(uint8_t priority, std::string_view password = "s3cret") {
    Advert a;
    a.version = 2;
    a.vrid = 51;
    a.priority = priority;
    a.set_interval(Centiseconds(100));
    a.auth_type = 1;
    a.auth_data = auth_pass(password);
    a.addresses = {kVip};
    auto bytes = encode(a, {kPeer, kUs}).value();
    socket.inject(kPeer, kUs, bytes);
  }
  Advert last_sent() {
    const auto& s = socket.sent.back();
    RxCheck loose;
    auto d = decode(RxView{s.source, s.destination, 255, s.payload}, loose);
    EXPECT_TRUE(d.ok()) << to_string(d.status);
    return d.advert;
  }

  core::ManualClock clock;
  os::FakeVrrpSocket socket;
  os::FakeAddresses addresses;
  os::FakeAnnouncer announcer;
  std::vector<Transition> seen;
  VrrpInstance instance;
};

TEST(VrrpInstance, BecomesMasterSendsToEachPeerAddsAndAnnouncesTheVip) {
  Harness h;
  h.socket.set_receiver([&](const os::RxPacket& p) { h.instance.receive(p); });
  h.instance.start();
  EXPECT_EQ(h.instance.state(), State::kBackup);
  h.clock.advance(seconds(4));
  ASSERT_EQ(h.instance.state(), State::kMaster);
  h.addresses.ops.erase(h.addresses.ops.begin());  // the stale-VIP removal at start
  ASSERT_EQ(h.socket.sent.size(), 1u);
  EXPECT_EQ(h.socket.sent[0].destination, kPeer);
  EXPECT_EQ(h.socket.sent[0].source, kUs);
  Advert a = h.last_sent();
  EXPECT_EQ(a.priority, 100);
  EXPECT_EQ(a.vrid, 51);
  EXPECT_EQ(a.auth_data, auth_pass("s3cret"));
  EXPECT_EQ(a.addresses, std::vector<IpAddress>{kVip});
  ASSERT_EQ(h.addresses.ops.size(), 1u);
  EXPECT_TRUE(h.addresses.ops[0].add);
  EXPECT_EQ(h.addresses.ops[0].spec.to_string(), "198.18.0.100/24 dev eth0");
  EXPECT_EQ(h.announcer.announced.size(), 2u);  // garp_master_repeat at once
  h.clock.advance(seconds(5));
  EXPECT_EQ(h.announcer.announced.size(), 4u);  // and again after garp_master_delay
  EXPECT_EQ(h.socket.sent.size(), 6u);          // one advert a second
  ASSERT_EQ(h.seen.size(), 2u);
  EXPECT_EQ(h.seen[1].to, State::kMaster);
}

TEST(VrrpInstance, StateMasterWaitsForItsTrackedItemsBeforeAnnouncingItself) {
  Instance config = unicast_instance();
  config.start_as_master = true;
  Harness h(config);
  size_t proxy = h.instance.add_tracked("proxy lb", {0, false}, false);  // not proven yet
  h.instance.start();
  EXPECT_EQ(h.instance.state(), State::kFault);
  EXPECT_TRUE(h.socket.sent.empty());  // no advert with priority 101, then 0
  h.instance.set_tracked(proxy, true);
  EXPECT_EQ(h.instance.state(), State::kBackup);
  ASSERT_EQ(h.seen.size(), 2u);
  EXPECT_EQ(h.seen[0].to, State::kFault);
}

TEST(VrrpInstance, StartingAsBackupRemovesAStaleVip) {
  Harness h;
  // A previous run killed with SIGKILL left the address on the interface.
  ASSERT_TRUE(h.addresses.add({kVip, 24, "eth0", "", std::nullopt, 0, true}).value());
  h.addresses.ops.clear();
  h.instance.start();
  ASSERT_EQ(h.instance.state(), State::kBackup);
  ASSERT_EQ(h.addresses.ops.size(), 1u);
  EXPECT_FALSE(h.addresses.ops[0].add);
  EXPECT_TRUE(h.addresses.present["eth0"].empty());
}

TEST(VrrpInstance, HigherPeerTakesOverAndTheVipIsRemoved) {
  Harness h;
  h.socket.set_receiver([&](const os::RxPacket& p) { h.instance.receive(p); });
  h.instance.start();
  h.clock.advance(seconds(4));
  ASSERT_EQ(h.instance.state(), State::kMaster);
  h.peer_advert(150);
  EXPECT_EQ(h.instance.state(), State::kBackup);
  ASSERT_EQ(h.addresses.ops.size(), 3u);  // stale removal at start, add, remove
  EXPECT_TRUE(h.addresses.ops[1].add);
  EXPECT_FALSE(h.addresses.ops[2].add);
  EXPECT_EQ(h.instance.status()["master"], "198.18.0.1");
  EXPECT_EQ(h.instance.counters().adverts_rx, 1u);
}

TEST(VrrpInstance, WrongPasswordIsDroppedAndCountedByReason) {
  Harness h;
  h.socket.set_receiver([&](const os::RxPacket& p) { h.instance.receive(p); });
  h.instance.start();
  h.peer_advert(150, "wrong");
  EXPECT_EQ(h.instance.counters().adverts_rx, 0u);
  EXPECT_EQ(h.instance.counters().dropped[static_cast<size_t>(RxStatus::kAuthMismatch)], 1u);
  EXPECT_EQ(h.instance.status()["counters"]["dropped"]["auth data mismatch"], 1);
  h.clock.advance(seconds(4));
  EXPECT_EQ(h.instance.state(), State::kMaster);  // the bad advert did not hold us back
}

TEST(VrrpInstance, AnnouncementsAreSpacedByVrrpGarpInterval) {
  GlobalDefs g;
  g.vrrp_garp_interval = milliseconds(10);
  core::ManualClock clock;
  os::FakeVrrpSocket socket;
  os::FakeAddresses addresses;
  os::FakeAnnouncer announcer;
  VrrpInstance vi(unicast_instance(), g, kUs,
                  VrrpInstance::Deps{clock, socket, addresses, announcer, nullptr, nullptr});
  vi.start();
  clock.advance(std::chrono::microseconds(3'609'375));  // Master_Down_Interval
  ASSERT_EQ(vi.state(), State::kMaster);
  EXPECT_EQ(announcer.announced.size(), 1u);  // the second of garp_master_repeat 2 waits
  clock.advance(milliseconds(10));
  EXPECT_EQ(announcer.announced.size(), 2u);
}

TEST(VrrpInstance, MasterHearingALowerPriorityRefreshesTheNeighbours) {
  Harness h;
  h.socket.set_receiver([&](const os::RxPacket& p) { h.instance.receive(p); });
  h.instance.start();
  h.clock.advance(seconds(10));  // master; both GARP bursts done
  ASSERT_EQ(h.instance.state(), State::kMaster);
  const size_t before = h.announcer.announced.size();
  h.peer_advert(50);
  EXPECT_EQ(h.instance.state(), State::kMaster);
  EXPECT_EQ(h.announcer.announced.size(), before + 2);  // garp_lower_prio_repeat (= 2 here)
  h.peer_advert(50);  // at most one burst per garp_lower_prio_delay
  EXPECT_EQ(h.announcer.announced.size(), before + 2);
  h.clock.advance(seconds(5));
  EXPECT_EQ(h.announcer.announced.size(), before + 4);
}

TEST(VrrpInstance, GracefulStopSendsPriorityZeroAndRemovesTheVip) {
  Harness h;
  h.instance.start();
  h.clock.advance(seconds(4));
  h.instance.stop();
  EXPECT_EQ(h.last_sent().priority, 0);
  EXPECT_FALSE(h.addresses.ops.back().add);
  EXPECT_EQ(h.instance.state(), State::kInit);
  EXPECT_EQ(h.instance.counters().priority_zero_tx, 1u);
}

TEST(VrrpInstance, FailingTrackedItemLowersPriorityAndWeightZeroMeansFault) {
  Harness h;
  size_t chk = h.instance.add_tracked("chk_haproxy", {-20, false}, true);
  size_t eth = h.instance.add_tracked("eth0", {0, false}, true);
  h.instance.start();
  h.clock.advance(seconds(4));
  ASSERT_EQ(h.instance.state(), State::kMaster);
  const size_t before = h.socket.sent.size();
  h.instance.set_tracked(chk, false);
  EXPECT_EQ(h.instance.effective_priority(), 80);
  ASSERT_EQ(h.socket.sent.size(), before + 1);  // said at once
  EXPECT_EQ(h.last_sent().priority, 80);
  h.instance.set_tracked(eth, false);
  EXPECT_EQ(h.instance.state(), State::kFault);
  EXPECT_EQ(h.last_sent().priority, 0);
  EXPECT_FALSE(h.addresses.ops.back().add);
  h.instance.set_tracked(eth, true);
  EXPECT_EQ(h.instance.state(), State::kBackup);
}

}  // namespace
}  // namespace tandem::vrrp
