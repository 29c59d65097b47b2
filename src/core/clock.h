// Time for everything: a Clock gives "now" and one-shot timers; tests use ManualClock.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <utility>

namespace asio {
class io_context;
}

namespace tandem::core {

using Duration = std::chrono::nanoseconds;
// Shares steady_clock's epoch so a real and a manual clock read alike in logs and tests.
using TimePoint = std::chrono::time_point<std::chrono::steady_clock, Duration>;

// A one-shot timer. Arming again replaces the pending deadline; destroying it cancels.
// A callback never runs after cancel() or destruction.
class Timer {
 public:
  virtual ~Timer() = default;
  virtual void arm_at(TimePoint when, std::function<void()> callback) = 0;
  virtual void cancel() = 0;
  virtual bool armed() const = 0;
  virtual TimePoint deadline() const = 0;  // meaningful only while armed
};
using TimerPtr = std::unique_ptr<Timer>;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
  virtual TimerPtr make_timer() = 0;

  // Convenience: arm a timer relative to now.
  void arm_after(Timer& t, Duration d, std::function<void()> cb) {
    t.arm_at(now() + d, std::move(cb));
  }
};

// On the calling thread from now on (until called with false), SteadyClock::now() reads the
// clock once per turn of the thread's event loop and gives that time until the next turn,
// as haproxy's now_ms: a turn runs the handlers that one return from epoll_wait(2) made
// ready, microseconds to a few milliseconds of work. For loops that read the time many
// times a turn and can take it that coarse (the proxy's time-outs and log timings); a
// thread that may wait on the clock without returning to its loop must not ask for it.
void cache_time_per_turn(bool on);

// The monotonic clock, with timers on one io_context.
class SteadyClock final : public Clock {
 public:
  explicit SteadyClock(asio::io_context& io) : io_(io) {}
  TimePoint now() const override;
  TimerPtr make_timer() override;

 private:
  asio::io_context& io_;
};

// A clock that moves only when told: advance() runs every due timer in deadline order
// (ties in arming order), each seeing now() equal to its deadline.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start = TimePoint(std::chrono::seconds(1000)));
  ~ManualClock() override;
  TimePoint now() const override { return now_; }
  TimerPtr make_timer() override;

  void advance(Duration d);
  void advance_to(TimePoint t);
  // Runs timers due at now() without moving time (a timer armed for "now" by a callback).
  void run_due() { advance_to(now_); }
  size_t pending() const { return queue_.size(); }
  // The earliest pending deadline, or TimePoint::max() when none.
  TimePoint next_deadline() const;

 private:
  class ManualTimer;
  friend class ManualTimer;
  using Key = std::pair<TimePoint, uint64_t>;

  TimePoint now_;
  uint64_t seq_ = 0;
  std::map<Key, ManualTimer*> queue_;
};

}  // namespace tandem::core
