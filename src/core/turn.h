// The turns of an event loop, as asio's reactor reports them (see asio_impl.cc).
#pragma once

namespace tandem::core::detail {

// Set on each return from the reactor's epoll_wait(2) on this thread; the clock clears it
// when it reads the time for the new turn.
extern constinit thread_local bool turn_ended;

}  // namespace tandem::core::detail
