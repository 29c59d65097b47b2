// Per-thread caches of objects that come and go at the rate of connections (a parser, a
// session's work area): a dropped object is kept, with the storage its strings and vectors
// have grown, for the next taker on the same thread, instead of being freed and rebuilt.
#pragma once

#include <cstddef>

namespace tandem::core {

// Holds up to N dropped objects of type T per thread. take() hands one back (the caller
// resets what it needs) or nullptr; give() keeps an object or deletes it when the cache is
// full or the thread is ending. Each thread has its own slots: no locking, and an object
// given on another thread than the one that took it simply changes cache.
template <typename T, size_t N>
class ThreadObjectCache {
 public:
  static T* take() {
    Slots& s = slots();
    return s.count > 0 ? s.items[--s.count] : nullptr;
  }
  static void give(T* p) {
    if (p == nullptr) return;
    Slots& s = slots();
    if (s.closed || s.count == N) {
      delete p;
      return;
    }
    s.items[s.count++] = p;
  }
  // Objects cached on this thread (tests).
  static size_t cached() { return slots().count; }

 private:
  // Trivially destructible, so that it stays usable until the thread's very end; the reaper
  // (destroyed with the thread's other thread_local objects) empties it and closes it.
  struct Slots {
    T* items[N];
    size_t count;
    bool closed;
  };
  struct Reaper {
    ~Reaper() {
      Slots& s = storage();
      s.closed = true;
      while (s.count > 0) delete s.items[--s.count];
    }
  };
  static Slots& storage() {
    thread_local Slots s{};
    return s;
  }
  static Slots& slots() {
    thread_local Reaper reaper;
    (void)reaper;
    return storage();
  }
};

}  // namespace tandem::core
