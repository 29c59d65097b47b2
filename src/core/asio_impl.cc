// The one translation unit that compiles asio's implementation (ASIO_SEPARATE_COMPILATION).
//
// It also marks the turns of each event loop for the clock (core/clock.h,
// cache_time_per_turn): asio's epoll reactor calls epoll_wait(2) by its unqualified name, so
// a macro sends that one call site, and no other in the program, through a wrapper that
// notes each return. Everything a loop runs between two returns is one turn.
#include <sys/epoll.h>

#include "turn.h"  // this directory: tandem_asio has no include path of ours

namespace tandem::core::detail {
constinit thread_local bool turn_ended = true;
}  // namespace tandem::core::detail

namespace {

int epoll_wait_marking_turns(int epfd, epoll_event* events, int max_events, int timeout) {
  const int n = ::epoll_wait(epfd, events, max_events, timeout);
  tandem::core::detail::turn_ended = true;
  return n;
}

}  // namespace

#define epoll_wait epoll_wait_marking_turns
#include <asio/impl/src.hpp>
#undef epoll_wait
