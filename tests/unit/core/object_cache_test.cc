// The per-thread object cache: objects come back to the thread that gave them, up to the
// cap; the rest and whatever is cached when the thread ends are deleted.
#include "core/object_cache.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace tandem::core {
namespace {

struct Counted {
  static inline int live = 0;
  Counted() { ++live; }
  ~Counted() { --live; }
  int value = 0;
};

using Cache = ThreadObjectCache<Counted, 4>;

TEST(ThreadObjectCache, GivesBackWhatWasGivenUpToTheCap) {
  std::thread([] {
    EXPECT_EQ(Cache::take(), nullptr);
    std::vector<Counted*> made;
    for (int i = 0; i < 6; ++i) made.push_back(new Counted);
    made[0]->value = 42;
    for (Counted* c : made) Cache::give(c);
    // Two beyond the cap were deleted at once.
    EXPECT_EQ(Cache::cached(), 4u);
    EXPECT_EQ(Counted::live, 4);
    // Last given, first taken; the object keeps its state (the taker resets it).
    Counted* a = Cache::take();
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(Cache::cached(), 3u);
    delete a;
    Cache::give(nullptr);  // ignored
    EXPECT_EQ(Cache::cached(), 3u);
  }).join();
  // The thread's end deleted what it still held.
  EXPECT_EQ(Counted::live, 0);
}

TEST(ThreadObjectCache, EachThreadHasItsOwn) {
  std::thread([] {
    Cache::give(new Counted);
    EXPECT_EQ(Cache::cached(), 1u);
    std::thread([] { EXPECT_EQ(Cache::take(), nullptr); }).join();
    EXPECT_EQ(Cache::cached(), 1u);
  }).join();
  EXPECT_EQ(Counted::live, 0);
}

}  // namespace
}  // namespace tandem::core
