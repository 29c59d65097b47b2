// When an event loop that is nearly saturated runs out of work, it polls for a few
// microseconds before it sleeps (see docs/design/idle-poll.md).
//
// A loop that sleeps in epoll_wait(2) is woken by whoever makes its next event: the peer
// that sent the bytes pays for the wake-up (and, on a virtual machine, for the interrupt
// that brings the sleeping core back), and the loop pays for going to sleep and coming
// back. When the loop is busy most of the time its waits are short, and those two costs
// are a large part of each wait. Polling instead, up to kMaxSpin, finds the next event
// without either. It is done only while the loop has been busy at least three quarters of
// the recent time and its recent waits were short, so an idle or lightly loaded loop
// sleeps at once as before, and the polling never takes more than the quarter of the core
// the loop was leaving idle anyway.
//
// kAlways is haproxy's `busy-polling`: the loop never sleeps.
//
// Header only, no dependencies: asio's translation unit (asio_impl.cc) uses it.
#pragma once

#include <cstdint>

namespace tandem::core {

class IdlePoll {
 public:
  enum class Mode : uint8_t { kOff, kAdaptive, kAlways };
  // The longest a loop polls before it sleeps (kAdaptive).
  static constexpr int64_t kMaxSpinNs = 20'000;
  // kAlways: "until an event comes".
  static constexpr int64_t kForeverNs = int64_t{1} << 62;
  // The busy and waiting times are weighed over about this much of the recent past.
  static constexpr double kWindowNs = 16e6;

  explicit IdlePoll(Mode mode = Mode::kAdaptive) : mode_(mode) {}
  Mode mode() const { return mode_; }
  void set_mode(Mode m) { mode_ = m; }

  // The loop is about to wait at `now_ns` (a monotonic time): how long it should poll
  // before it sleeps, 0 to sleep at once.
  int64_t before_wait(int64_t now_ns) {
    if (last_return_ns_ != 0 && now_ns > last_return_ns_) {
      busy_ns_ += static_cast<double>(now_ns - last_return_ns_);
    }
    enter_ns_ = now_ns;
    if (mode_ != Mode::kAdaptive) return mode_ == Mode::kAlways ? kForeverNs : 0;
    const bool busy = busy_ns_ >= 3 * wait_ns_ && busy_ns_ > 0;
    return busy && avg_wait_ns_ <= static_cast<double>(kMaxSpinNs) ? kMaxSpinNs : 0;
  }

  // The wait ended at `now_ns`, by polling or by sleeping.
  void after_wait(int64_t now_ns) {
    const double waited = now_ns > enter_ns_ ? static_cast<double>(now_ns - enter_ns_) : 0.0;
    wait_ns_ += waited;
    avg_wait_ns_ += (waited - avg_wait_ns_) / 8;
    last_return_ns_ = now_ns;
    const double sum = busy_ns_ + wait_ns_;
    if (sum > kWindowNs) {
      busy_ns_ *= kWindowNs / sum;
      wait_ns_ *= kWindowNs / sum;
    }
  }

  // The share of the recent time the loop was busy, from 0 to 1.
  double busy_share() const {
    const double sum = busy_ns_ + wait_ns_;
    return sum > 0 ? busy_ns_ / sum : 0.0;
  }

 private:
  int64_t last_return_ns_ = 0;
  int64_t enter_ns_ = 0;
  double busy_ns_ = 0;
  double wait_ns_ = 0;
  // The recent waits' length, a moving average (1/8 per wait); starts long: no polling
  // until the loop has shown short waits.
  double avg_wait_ns_ = 1e9;
  Mode mode_;
};

namespace detail {
// The calling thread's loop polls before it sleeps while this is set (Worker::run).
extern constinit thread_local IdlePoll* idle_poll;
}  // namespace detail

}  // namespace tandem::core
