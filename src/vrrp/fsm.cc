#include "vrrp/fsm.h"

#include <algorithm>

#include <fmt/format.h>

namespace tandem::vrrp {

using core::Duration;
using core::TimePoint;
using std::chrono::microseconds;

std::string_view to_string(State s) {
  switch (s) {
    case State::kInit:
      return "INIT";
    case State::kBackup:
      return "BACKUP";
    case State::kMaster:
      return "MASTER";
    case State::kFault:
      return "FAULT";
  }
  return "?";
}

Fsm::Fsm(FsmConfig config)
    : config_(config), priority_(config.priority), master_adver_int_(config.advert_interval) {}

Duration Fsm::skew_time() const {
  // v2 (RFC 3768): (256 - Priority) / 256 seconds. v3 (RFC 5798): scaled by the master's
  // interval. Computed in microseconds, as keepalived does, from the effective priority.
  const int64_t weight = 256 - priority_;
  if (config_.version == 3) {
    auto us = std::chrono::duration_cast<microseconds>(master_adver_int_).count();
    return microseconds(weight * us / 256);
  }
  return microseconds(weight * 1'000'000 / 256);
}

Duration Fsm::master_down_interval() const {
  return 3 * master_adver_int_ + skew_time();
}

TimePoint Fsm::next_deadline() const {
  return std::min({adver_at_, master_down_at_, preempt_at_, leave_at_});
}

void Fsm::change_state(State to, Actions& out, std::string reason) {
  Action a{Action::Kind::kStateChange};
  a.from = state_;
  a.to = to;
  a.priority = priority_;
  a.reason = std::move(reason);
  state_ = to;
  out.push_back(std::move(a));
}

void Fsm::send_advert(TimePoint now, Actions& out, uint8_t priority) {
  out.push_back(Action{Action::Kind::kSendAdvert, priority});
  if (state_ == State::kMaster) adver_at_ = now + config_.advert_interval;
}

void Fsm::arm_master_down(TimePoint now, Duration after) {
  master_down_at_ = now + after;
}

void Fsm::become_master(TimePoint now, Actions& out, std::string reason) {
  master_down_at_ = kNever;
  preempt_at_ = kNever;
  master_address_.reset();
  // Our own interval from now on: a v3 master advertises what it was configured with.
  master_adver_int_ = config_.advert_interval;
  change_state(State::kMaster, out, std::move(reason));
  send_advert(now, out, priority_);
  out.push_back(Action{Action::Kind::kAddAddresses});
  out.push_back(Action{Action::Kind::kAnnounce});
}

void Fsm::leave_master(Actions& out) {
  adver_at_ = kNever;
  out.push_back(Action{Action::Kind::kRemoveAddresses});
}

void Fsm::become_backup(TimePoint now, Actions& out, std::string reason) {
  if (state_ == State::kMaster) leave_master(out);
  change_state(State::kBackup, out, std::move(reason));
  arm_master_down(now, master_down_interval());
}

bool Fsm::preempt_allowed(TimePoint now) const {
  if (!config_.preempt) return false;
  if (config_.preempt_delay == Duration::zero() || preempt_delay_served_) return true;
  return preempt_at_ != kNever && now >= preempt_at_;
}

Actions Fsm::start(TimePoint now) {
  Actions out;
  if (state_ != State::kInit) return out;
  started_at_ = now;
  master_adver_int_ = config_.advert_interval;
  preempt_at_ = config_.preempt_delay > Duration::zero() ? now + config_.preempt_delay : kNever;
  preempt_delay_served_ = false;
  if (fault_) {
    change_state(State::kFault, out, "a tracked item is down at start");
  } else if (priority_ == kPriorityOwner) {
    become_master(now, out, "priority 255: we own the addresses");
  } else if (config_.start_as_master) {
    become_master(now, out, "configured with state MASTER");
  } else {
    change_state(State::kBackup, out, "start");
    arm_master_down(now, master_down_interval());
  }
  return out;
}

Actions Fsm::stop_handover(TimePoint now) {
  if (state_ != State::kMaster || leaving_) return stop(now);
  Actions out;
  leaving_ = true;
  adver_at_ = master_down_at_ = preempt_at_ = kNever;
  leave_at_ = now + master_down_interval();
  out.push_back(Action{Action::Kind::kSendAdvert, kPriorityStop});
  return out;
}

Actions Fsm::stop(TimePoint now) {
  (void)now;
  Actions out;
  leaving_ = false;
  leave_at_ = kNever;
  if (state_ == State::kMaster) {
    out.push_back(Action{Action::Kind::kSendAdvert, kPriorityStop});
    leave_master(out);
  }
  adver_at_ = master_down_at_ = preempt_at_ = kNever;
  if (state_ != State::kInit) change_state(State::kInit, out, "stop");
  return out;
}

Actions Fsm::receive(TimePoint now, const ReceivedAdvert& advert) {
  Actions out;
  if (leaving_) {
    // A backup has taken over: now the addresses can go.
    if (advert.priority != kPriorityStop) {
      out = stop(now);
      if (!out.empty() && out.back().kind == Action::Kind::kStateChange)
        out.back().reason = "stop: " + advert.source.to_string() + " took over";
      // stop() sends priority 0 again for a master; the handover already did.
      std::erase_if(out, [](const Action& a) { return a.kind == Action::Kind::kSendAdvert; });
    }
    return out;
  }
  switch (state_) {
    case State::kInit:
    case State::kFault:
      return out;  // not taking part

    case State::kBackup:
      if (advert.priority == kPriorityStop) {
        // The master is leaving: take over after the skew time only, so the best backup
        // wins without a collision.
        master_address_ = advert.source;
        master_priority_ = advert.priority;
        arm_master_down(now, skew_time());
        return out;
      }
      if (advert.priority >= priority_ || !config_.preempt) {
        master_address_ = advert.source;
        master_priority_ = advert.priority;
        preempt_at_ = kNever;
        preempt_delay_served_ = false;  // a later lower master makes us wait again
        if (config_.version == 3 && advert.interval > Duration::zero())
          master_adver_int_ = advert.interval;
        arm_master_down(now, master_down_interval());
        return out;
      }
      // A lower priority master and we may preempt: at once, or once preempt_delay passed.
      // RFC 5798 and keepalived 2.2.7 discard the advert and wait for Master_Down_Interval;
      // taking over now is what lets a master that lowers its priority (tracking) hand
      // over within a round trip. The old master hears our advert and steps down.
      master_address_ = advert.source;
      master_priority_ = advert.priority;
      if (preempt_at_ == kNever && !preempt_delay_served_ &&
          config_.preempt_delay > Duration::zero())
        preempt_at_ = now + config_.preempt_delay;
      if (preempt_allowed(now)) {
        become_master(now, out,
                      fmt::format("preempting {} (priority {} < ours {})",
                                  advert.source.to_string(), advert.priority, priority_));
      } else {
        // Keep the lower master alive in our eyes until the delay runs out.
        arm_master_down(now, master_down_interval());
      }
      return out;

    case State::kMaster: {
      if (advert.priority == kPriorityStop) {
        // Another master is leaving: answer at once so backups see us.
        send_advert(now, out, priority_);
        return out;
      }
      const bool they_win = advert.priority > priority_ ||
                            (advert.priority == priority_ && advert.source > config_.primary);
      if (they_win) {
        master_address_ = advert.source;
        master_priority_ = advert.priority;
        if (config_.version == 3 && advert.interval > Duration::zero())
          master_adver_int_ = advert.interval;
        become_backup(now, out,
                      fmt::format("{} has priority {} (ours {})", advert.source.to_string(),
                                  advert.priority, priority_));
      } else {
        // Two masters: assert ourselves now rather than at the next interval, so the
        // other steps down within one round trip.
        if (advert.priority < priority_)
          out.push_back(Action{Action::Kind::kMasterRxLowerPri, advert.priority});
        send_advert(now, out, priority_);
      }
      return out;
    }
  }
  return out;
}

Actions Fsm::on_timer(TimePoint now) {
  Actions out;
  if (leaving_) {
    if (now < leave_at_) return out;
    out = stop(now);
    std::erase_if(out, [](const Action& a) { return a.kind == Action::Kind::kSendAdvert; });
    if (!out.empty() && out.back().kind == Action::Kind::kStateChange)
      out.back().reason = "stop: no backup took over within Master_Down_Interval";
    return out;
  }
  if (state_ == State::kMaster && now >= adver_at_) {
    send_advert(now, out, priority_);
  }
  if (state_ == State::kBackup && now >= master_down_at_) {
    become_master(now, out,
                  master_priority_ == kPriorityStop && master_address_
                      ? "the master left (priority 0)"
                      : "master down timer expired");
    return out;
  }
  if (state_ == State::kBackup && now >= preempt_at_) {
    preempt_at_ = kNever;
    preempt_delay_served_ = true;
    if (config_.preempt && master_address_ && master_priority_ < priority_) {
      become_master(now, out,
                    fmt::format("preempt delay over: preempting {} (priority {} < ours {})",
                                master_address_->to_string(), master_priority_, priority_));
    }
  }
  if (state_ != State::kBackup) preempt_at_ = kNever;
  return out;
}

Actions Fsm::set_priority(TimePoint now, uint8_t priority) {
  Actions out;
  if (leaving_) return out;  // on the way out: nothing more to announce
  if (config_.priority == kPriorityOwner || priority == priority_) return out;
  priority_ = priority;
  if (state_ == State::kMaster) send_advert(now, out, priority_);
  return out;
}

Actions Fsm::force_master(TimePoint now, std::string reason) {
  Actions out;
  if (state_ == State::kBackup) become_master(now, out, std::move(reason));
  return out;
}

Actions Fsm::force_backup(TimePoint now, std::string reason) {
  Actions out;
  if (leaving_) return out;
  if (state_ == State::kMaster) become_backup(now, out, std::move(reason));
  return out;
}

Actions Fsm::set_fault(TimePoint now, bool fault) {
  Actions out;
  if (leaving_) return out;
  if (fault == fault_) return out;
  fault_ = fault;
  if (state_ == State::kInit) return out;  // start() looks at fault_
  if (fault) {
    if (state_ == State::kMaster) {
      out.push_back(Action{Action::Kind::kSendAdvert, kPriorityStop});
      leave_master(out);
    }
    master_down_at_ = preempt_at_ = kNever;
    master_address_.reset();
    change_state(State::kFault, out, "a tracked item failed");
  } else if (state_ == State::kFault) {
    master_adver_int_ = config_.advert_interval;
    if (priority_ == kPriorityOwner) {
      become_master(now, out, "recovered, and we own the addresses");
    } else {
      become_backup(now, out, "tracked items recovered");
    }
  }
  return out;
}

}  // namespace tandem::vrrp
