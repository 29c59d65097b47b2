// The one translation unit that compiles asio's implementation (ASIO_SEPARATE_COMPILATION).
//
// It also wraps the waits of each event loop: asio's epoll reactor calls epoll_wait(2) by
// its unqualified name, so a macro sends that one call site, and no other in the program,
// through a wrapper that
// - marks the turns for the clock (core/clock.h, cache_time_per_turn): it notes each
//   return, and everything a loop runs between two returns is one turn;
// - on a loop that asked for it (core/idle_poll.h), naps for a few microseconds before a
//   wait that would sleep while the loop is nearly saturated, or polls always.
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <time.h>

#include <cstdint>

#include "idle_poll.h"  // this directory: tandem_asio has no include path of ours
#include "turn.h"

namespace tandem::core::detail {
constinit thread_local bool turn_ended = true;
constinit thread_local IdlePoll* idle_poll = nullptr;
}  // namespace tandem::core::detail

namespace {

// A nap on a timer (IdlePoll): the thread is not on its epoll set's wait queue, so what
// comes meanwhile wakes nobody. The thread's timer slack (50 µs by default) would let the
// kernel stretch a 20 µs nap to 70: it is cut to 1 µs on the thread's first nap.
void nap(int64_t ns) {
  static constinit thread_local bool slack_cut = false;
  if (!slack_cut) {
    ::prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
    slack_cut = true;
  }
  const timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  ::clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, nullptr);
}

int64_t monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

int epoll_wait_marking_turns(int epfd, epoll_event* events, int max_events, int timeout) {
  using tandem::core::detail::idle_poll;
  using tandem::core::detail::turn_ended;
  auto poll = [&](int t) { return ::epoll_wait(epfd, events, max_events, t); };
  int n = 0;
  if (idle_poll == nullptr) {
    n = poll(timeout);
  } else {
    n = tandem::core::wait_for_events(*idle_poll, timeout, poll, nap, monotonic_ns);
  }
  turn_ended = true;
  return n;
}

}  // namespace

#define epoll_wait epoll_wait_marking_turns
#include <asio/impl/src.hpp>
#undef epoll_wait
