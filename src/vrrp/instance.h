// One virtual router at run time: the pure state machine wired to a VRRP socket, netlink
// addresses, announcements and timers. Notify scripts and tracking reach it from the daemon.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/clock.h"
#include "core/log.h"
#include "vrrp/codec.h"
#include "vrrp/config.h"
#include "vrrp/fsm.h"
#include "vrrp/os/addresses.h"
#include "vrrp/os/announce.h"
#include "vrrp/os/vrrp_socket.h"
#include "vrrp/track.h"

namespace tandem::vrrp {

// A state change as notify scripts and the status see it.
struct Transition {
  std::chrono::system_clock::time_point at;  // wall clock, for people
  State from;
  State to;
  uint8_t priority;
  std::string reason;
};

struct InstanceCounters {
  uint64_t adverts_rx = 0;
  uint64_t adverts_tx = 0;
  uint64_t send_errors = 0;
  uint64_t became_master = 0;
  uint64_t released_master = 0;
  uint64_t priority_zero_rx = 0;
  uint64_t priority_zero_tx = 0;
  uint64_t address_errors = 0;
  uint64_t unknown_source = 0;  // unicast: an advert from an address that is no peer
  std::array<uint64_t, kRxStatusCount> dropped{};
};

class VrrpInstance {
 public:
  struct Deps {
    core::Clock& clock;
    os::VrrpSocket& socket;
    os::AddressManager& addresses;
    os::Announcer& announcer;
    // Called for every state change and for master_rx_lower_pri, in order.
    std::function<void(const VrrpInstance&, const Transition&)> on_transition;
    std::function<void(const VrrpInstance&, uint8_t their_priority)> on_master_rx_lower_pri;
  };

  VrrpInstance(const Instance& config, const GlobalDefs& global, IpAddress primary, Deps deps);
  ~VrrpInstance();
  VrrpInstance(const VrrpInstance&) = delete;
  VrrpInstance& operator=(const VrrpInstance&) = delete;

  void start();
  // Graceful: a master sends priority 0 and removes its addresses.
  void stop();
  // Graceful without a gap: a master keeps its addresses until a backup has taken over
  // (bounded by Master_Down_Interval); state() is INIT once it is done.
  void stop_handover();
  // A packet from the socket of this instance's interface and family, VRID already matched.
  void receive(const os::RxPacket& packet);
  // Tracking: register items at set-up, then report their state.
  size_t add_tracked(std::string name, TrackedWeight weight, bool up);
  void set_tracked(size_t index, bool up);
  size_t add_tracked_value(std::string name, TrackedWeight weight, int64_t value);
  // Sync groups: move with the group (no-ops when already there), and the group's FAULT.
  void force_master(const std::string& why);
  void force_backup(const std::string& why);
  void set_group_fault(bool fault);
  bool own_fault() const { return tracker_.verdict().fault; }
  void set_tracked_value(size_t index, int64_t value);

  const Instance& config() const { return config_; }
  const std::string& name() const { return config_.name; }
  State state() const { return fsm_.state(); }
  uint8_t effective_priority() const { return fsm_.priority(); }
  const InstanceCounters& counters() const { return counters_; }
  const std::deque<Transition>& transitions() const { return transitions_; }
  nlohmann::json status() const;

 private:
  void apply(const Actions& actions);
  void rearm();
  void send_advert(uint8_t priority);
  void add_addresses();
  void remove_addresses();
  void set_addresses(bool on);
  void announce_round(uint32_t repeat);
  void start_announcements();
  void stop_announcements();
  void start_refresh_timer();
  void pump_announcements();
  void announce_lower_prio();
  void drop(RxStatus status, const os::RxPacket& packet);
  void update_priority();

  Instance config_;
  GlobalDefs global_;
  IpAddress primary_;
  Deps deps_;
  Fsm fsm_;
  PriorityTracker tracker_;
  RxCheck check_;
  Advert advert_;  // the template of what we send
  core::TimerPtr fsm_timer_;
  core::TimerPtr garp_delay_timer_;
  core::TimerPtr garp_refresh_timer_;
  core::TimerPtr garp_pace_timer_;
  core::TimerPtr garp_lower_timer_;
  std::deque<std::pair<std::string, IpAddress>> pending_;  // announcements still to send
  InstanceCounters counters_;
  std::deque<Transition> transitions_;  // the last kHistory
  core::RateLimiter drop_log_;
  std::function<void()> refresh_;
  bool addresses_on_ = false;
  bool group_fault_ = false;
  static constexpr size_t kHistory = 20;
};

// keepalived's scope names to rtnetlink's numbers.
uint8_t scope_number(Scope scope);

}  // namespace tandem::vrrp
