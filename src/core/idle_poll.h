// When an event loop that is nearly saturated runs out of work, it naps for a few
// microseconds on a timer before it sleeps on its events (see docs/design/idle-poll.md).
//
// A loop that sleeps in epoll_wait(2) is woken by whoever makes its next event: the peer
// that sent the bytes pays for the wake-up (and, on a virtual machine, for the interrupt
// that brings the sleeping core back), and the loop pays for going to sleep and coming
// back once per event that finds it asleep. When the loop is busy most of the time its
// waits are short and those costs are a large part of each wait. A loop that naps instead
// (clock_nanosleep, not on the events' wait queue) is woken by its own timer after kNapNs,
// whatever came meanwhile: the peers send without waking anyone and the loop finds their
// events together, as a network card's interrupt moderation does. It is done only while
// the loop has been busy at least three quarters of the recent time and its recent waits
// were short, so an idle or lightly loaded loop sleeps at once as before.
//
// kAlways is haproxy's `busy-polling`: the loop never sleeps, it polls until an event comes.
//
// Header only, no dependencies: asio's translation unit (asio_impl.cc) uses it.
#pragma once

#include <cstdint>

namespace tandem::core {

class IdlePoll {
 public:
  enum class Mode : uint8_t { kOff, kAdaptive, kAlways };
  // How long a busy loop naps when it finds nothing to do (kAdaptive).
  static constexpr int64_t kNapNs = 20'000;
  // kAlways: poll "until an event comes".
  static constexpr int64_t kForeverNs = int64_t{1} << 62;
  // The busy and waiting times are weighed over about this much of the recent past.
  static constexpr double kWindowNs = 16e6;

  explicit IdlePoll(Mode mode = Mode::kAdaptive) : mode_(mode) {}
  Mode mode() const { return mode_; }
  void set_mode(Mode m) { mode_ = m; }

  // The loop is about to wait at `now_ns` (a monotonic time): how long it should poll (kAlways:
  // kForeverNs) or nap (kAdaptive: kNapNs) before it sleeps, 0 to sleep at once.
  int64_t before_wait(int64_t now_ns) {
    if (last_return_ns_ != 0 && now_ns > last_return_ns_) {
      busy_ns_ += static_cast<double>(now_ns - last_return_ns_);
    }
    enter_ns_ = now_ns;
    if (mode_ != Mode::kAdaptive) return mode_ == Mode::kAlways ? kForeverNs : 0;
    const bool busy = busy_ns_ >= 3 * wait_ns_ && busy_ns_ > 0;
    return busy && avg_wait_ns_ <= static_cast<double>(kNapNs) ? kNapNs : 0;
  }

  // The wait ended at `now_ns`, after polling, napping or sleeping.
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

// One wait of an event loop: `poll(timeout_ms)` is its epoll_wait (the number of events,
// 0 for none; -1 waits as long as it takes), `nap(ns)` sleeps on a timer, `now()` reads
// the monotonic clock in ns. Returns what the last poll returned.
template <typename Poll, typename Nap, typename Now>
int wait_for_events(IdlePoll& p, int timeout_ms, Poll&& poll, Nap&& nap, Now&& now) {
  if (timeout_ms == 0 || p.mode() == IdlePoll::Mode::kOff) return poll(timeout_ms);
  const int64_t start = now();
  const int64_t ahead = p.before_wait(start);
  int n = 0;
  if (p.mode() == IdlePoll::Mode::kAlways) {
    const int64_t until = start + ahead;
    do {
      n = poll(0);
    } while (n == 0 && now() < until);
  } else if (ahead > 0) {
    n = poll(0);
    if (n == 0) nap(ahead);
  }
  if (n == 0) n = poll(timeout_ms);
  p.after_wait(now());
  return n;
}

namespace detail {
// The calling thread's loop polls before it sleeps while this is set (Worker::run).
extern constinit thread_local IdlePoll* idle_poll;
}  // namespace detail

}  // namespace tandem::core
