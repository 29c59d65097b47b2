#include "core/clock.h"

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include "core/turn.h"

namespace tandem::core {

namespace {

// The callback lives in shared state so that a completion arriving after cancel() or
// destruction finds a changed generation (or no state) and does nothing.
struct SteadyState {
  std::function<void()> callback;
  uint64_t generation = 0;
  bool armed = false;
  TimePoint deadline{};
};

class SteadyTimer final : public Timer {
 public:
  explicit SteadyTimer(asio::io_context& io)
      : timer_(io), state_(std::make_shared<SteadyState>()) {}
  ~SteadyTimer() override { cancel(); }

  void arm_at(TimePoint when, std::function<void()> callback) override {
    ++state_->generation;
    state_->callback = std::move(callback);
    state_->armed = true;
    state_->deadline = when;
    timer_.expires_at(std::chrono::steady_clock::time_point(
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(when.time_since_epoch())));
    std::weak_ptr<SteadyState> weak = state_;
    uint64_t gen = state_->generation;
    timer_.async_wait([weak, gen](const std::error_code& ec) {
      auto s = weak.lock();
      if (ec || !s || s->generation != gen || !s->armed) return;
      s->armed = false;
      auto cb = std::move(s->callback);
      s->callback = nullptr;
      cb();
    });
  }

  void cancel() override {
    ++state_->generation;
    state_->armed = false;
    state_->callback = nullptr;
    timer_.cancel();
  }

  bool armed() const override { return state_->armed; }
  TimePoint deadline() const override { return state_->deadline; }

 private:
  asio::steady_timer timer_;
  std::shared_ptr<SteadyState> state_;
};

}  // namespace

namespace {

TimePoint read_steady_clock() {
  return TimePoint(
      std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now().time_since_epoch()));
}

constinit thread_local bool t_per_turn = false;
constinit thread_local TimePoint t_turn_now{};

}  // namespace

void cache_time_per_turn(bool on) {
  t_per_turn = on;
  detail::turn_ended = true;
}

TimePoint SteadyClock::now() const {
  if (!t_per_turn) return read_steady_clock();
  if (detail::turn_ended) {
    t_turn_now = read_steady_clock();
    detail::turn_ended = false;
  }
  return t_turn_now;
}

TimerPtr SteadyClock::make_timer() {
  return std::make_unique<SteadyTimer>(io_);
}

class ManualClock::ManualTimer final : public Timer {
 public:
  explicit ManualTimer(ManualClock& clock) : clock_(&clock) {}
  ~ManualTimer() override { cancel(); }

  void arm_at(TimePoint when, std::function<void()> callback) override {
    cancel();
    if (!clock_) return;
    callback_ = std::move(callback);
    key_ = {when, clock_->seq_++};
    clock_->queue_.emplace(key_, this);
    armed_ = true;
  }

  void cancel() override {
    if (armed_ && clock_) clock_->queue_.erase(key_);
    armed_ = false;
    callback_ = nullptr;
  }

  bool armed() const override { return armed_; }
  TimePoint deadline() const override { return key_.first; }

  void fire() {
    armed_ = false;
    auto cb = std::move(callback_);
    callback_ = nullptr;
    if (cb) cb();
  }

  void detach() {
    armed_ = false;
    clock_ = nullptr;
  }

 private:
  ManualClock* clock_;
  std::function<void()> callback_;
  Key key_{};
  bool armed_ = false;
};

ManualClock::ManualClock(TimePoint start) : now_(start) {}

ManualClock::~ManualClock() {
  for (auto& [key, timer] : queue_) timer->detach();
}

TimerPtr ManualClock::make_timer() {
  return std::make_unique<ManualTimer>(*this);
}

void ManualClock::advance(Duration d) {
  advance_to(now_ + d);
}

void ManualClock::advance_to(TimePoint t) {
  if (t < now_) t = now_;
  while (!queue_.empty() && queue_.begin()->first.first <= t) {
    auto it = queue_.begin();
    ManualTimer* timer = it->second;
    now_ = it->first.first;
    queue_.erase(it);
    timer->fire();
  }
  now_ = t;
}

TimePoint ManualClock::next_deadline() const {
  return queue_.empty() ? TimePoint::max() : queue_.begin()->first.first;
}

}  // namespace tandem::core
