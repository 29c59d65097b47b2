// The one translation unit that compiles asio's implementation (ASIO_SEPARATE_COMPILATION).
//
// It also wraps the waits of each event loop: asio's epoll reactor calls epoll_wait(2) by
// its unqualified name, so a macro sends that one call site, and no other in the program,
// through a wrapper that
// - marks the turns for the clock (core/clock.h, cache_time_per_turn): it notes each
//   return, and everything a loop runs between two returns is one turn;
// - on a loop that asked for it (core/idle_poll.h), polls before a wait that would sleep:
//   for a few microseconds while the loop is nearly saturated, or always.
#include <sys/epoll.h>
#include <time.h>

#include <cstdint>

#include "idle_poll.h"  // this directory: tandem_asio has no include path of ours
#include "turn.h"

namespace tandem::core::detail {
constinit thread_local bool turn_ended = true;
constinit thread_local IdlePoll* idle_poll = nullptr;
}  // namespace tandem::core::detail

namespace {

int64_t monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

int epoll_wait_marking_turns(int epfd, epoll_event* events, int max_events, int timeout) {
  using tandem::core::detail::idle_poll;
  using tandem::core::detail::turn_ended;
  if (timeout == 0 || idle_poll == nullptr ||
      idle_poll->mode() == tandem::core::IdlePoll::Mode::kOff) {
    const int n = ::epoll_wait(epfd, events, max_events, timeout);
    turn_ended = true;
    return n;
  }
  const int64_t start = monotonic_ns();
  const int64_t spin = idle_poll->before_wait(start);
  int n = 0;
  if (spin > 0) {
    const int64_t until = start + spin;
    do {
      n = ::epoll_wait(epfd, events, max_events, 0);
    } while (n == 0 && monotonic_ns() < until);
  }
  if (n == 0) n = ::epoll_wait(epfd, events, max_events, timeout);
  idle_poll->after_wait(monotonic_ns());
  turn_ended = true;
  return n;
}

}  // namespace

#define epoll_wait epoll_wait_marking_turns
#include <asio/impl/src.hpp>
#undef epoll_wait
