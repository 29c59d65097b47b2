// The VRRP state machine of one virtual router (RFC 5798 section 6.4, with keepalived's
// FAULT state and preemption rules), pure: events and the time go in, actions come out.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "vrrp/ip_address.h"

namespace tandem::vrrp {

enum class State : uint8_t { kInit, kBackup, kMaster, kFault };
std::string_view to_string(State s);  // "INIT", "BACKUP", "MASTER", "FAULT"

inline constexpr uint8_t kPriorityStop = 0;     // "I am leaving": backups wait the skew only
inline constexpr uint8_t kPriorityOwner = 255;  // owns the addresses: master at once

struct FsmConfig {
  uint8_t version = 2;     // 2 or 3
  uint8_t priority = 100;  // configured (base) priority, 1..255
  core::Duration advert_interval = std::chrono::seconds(1);
  bool preempt = true;             // false with keepalived's nopreempt
  core::Duration preempt_delay{};  // a better backup waits this long before preempting
  bool start_as_master = false;    // keepalived's `state MASTER`
  IpAddress primary;               // our source address: breaks priority ties
};

// What the instance around the machine must do, in order.
struct Action {
  enum class Kind : uint8_t {
    kSendAdvert,        // send an advertisement now with `priority`
    kAddAddresses,      // put the virtual addresses (and routes) on
    kRemoveAddresses,   // take them off
    kAnnounce,          // gratuitous ARP / unsolicited NA for the addresses
    kStateChange,       // from -> to, for the log line, notify scripts and counters
    kMasterRxLowerPri,  // master heard a lower priority (keepalived's notify_master_rx_lower_pri)
  };
  Kind kind;
  uint8_t priority = 0;
  State from = State::kInit;
  State to = State::kInit;
  std::string reason;  // why, for the log: "master down timer expired", ...

  bool operator==(const Action&) const = default;
};
using Actions = std::vector<Action>;

// The part of a received, already validated advertisement that the machine needs.
struct ReceivedAdvert {
  IpAddress source;
  uint8_t priority = 0;
  core::Duration interval{};  // v3: the sender's Max Advertise Interval
};

class Fsm {
 public:
  explicit Fsm(FsmConfig config);

  // Initialize -> Backup, or Master when we own the addresses or start as master.
  Actions start(core::TimePoint now);
  // Leave: a master sends priority 0 and gives up its addresses. Back to Init.
  Actions stop(core::TimePoint now);
  // Leave without a gap: a master sends priority 0 but keeps its addresses until a backup
  // announces itself as master (or Master_Down_Interval has passed), so clients are served
  // until the new master's gratuitous ARPs take over. Others stop at once.
  Actions stop_handover(core::TimePoint now);
  bool leaving() const { return leaving_; }
  Actions receive(core::TimePoint now, const ReceivedAdvert& advert);
  // Runs whatever timer is due at `now` (adverts, master down, preempt delay).
  Actions on_timer(core::TimePoint now);
  // Tracking changed the effective priority (base + weights, clamped by the caller to 1..254).
  // A master says so at once, so a better backup can take over within its skew time.
  Actions set_priority(core::TimePoint now, uint8_t priority);
  // A tracked item with weight 0 failed (fault) or all recovered.
  Actions set_fault(core::TimePoint now, bool fault);
  // A sync group moves this member with the others: to MASTER from BACKUP, or to BACKUP
  // from MASTER. Anything else is left alone. `reason` names the group for the log.
  Actions force_master(core::TimePoint now, std::string reason);
  Actions force_backup(core::TimePoint now, std::string reason);

  State state() const { return state_; }
  uint8_t priority() const { return priority_; }
  const FsmConfig& config() const { return config_; }
  // The interval we believe the master uses (v3 backups adopt the master's).
  core::Duration master_advert_interval() const { return master_adver_int_; }
  core::Duration skew_time() const;
  core::Duration master_down_interval() const;
  // The last master heard from while not master, if any.
  const std::optional<IpAddress>& master_address() const { return master_address_; }
  // When on_timer() next has something to do; TimePoint::max() when nothing.
  core::TimePoint next_deadline() const;

 private:
  void become_master(core::TimePoint now, Actions& out, std::string reason);
  void become_backup(core::TimePoint now, Actions& out, std::string reason);
  void leave_master(Actions& out);
  void change_state(State to, Actions& out, std::string reason);
  void send_advert(core::TimePoint now, Actions& out, uint8_t priority);
  void arm_master_down(core::TimePoint now, core::Duration after);
  bool preempt_allowed(core::TimePoint now) const;

  FsmConfig config_;
  State state_ = State::kInit;
  uint8_t priority_;
  bool fault_ = false;
  core::Duration master_adver_int_;
  std::optional<IpAddress> master_address_;
  uint8_t master_priority_ = 0;

  static constexpr core::TimePoint kNever = core::TimePoint::max();
  core::TimePoint adver_at_ = kNever;        // master: next advert
  core::TimePoint master_down_at_ = kNever;  // backup: the master is presumed dead
  core::TimePoint preempt_at_ = kNever;      // backup: preemption allowed from then
  bool preempt_delay_served_ = false;
  bool leaving_ = false;               // a handover stop is under way
  core::TimePoint leave_at_ = kNever;  // ... and ends by then at the latest        // the wait is
                                       // over until a better master is heard
  core::TimePoint started_at_{};
};

}  // namespace tandem::vrrp
