#include <gtest/gtest.h>

#include "vrrp/os/process_watch.h"

namespace tandem::vrrp::os {
namespace {

using Match = ProcessPattern::Match;

TEST(ProcessMatch, NameMatchesCommOrArgv0BaseName) {
  ProcessPattern p{"haproxy", {}, Match::kAny, false};
  EXPECT_TRUE(matches(p, "haproxy", {"/usr/sbin/haproxy", "-f", "/etc/haproxy/haproxy.cfg"}));
  EXPECT_TRUE(matches(p, "other", {"/usr/sbin/haproxy"}));
  EXPECT_FALSE(matches(p, "haproxy-exporter", {"/usr/bin/haproxy-exporter"}));
  // comm keeps only 15 bytes of a long name.
  ProcessPattern long_name{"a-very-long-daemon-name", {}, Match::kAny, false};
  EXPECT_TRUE(matches(long_name, "a-very-long-dae", {}));
}

TEST(ProcessMatch, FullCommandComparesArgv0AsWritten) {
  ProcessPattern p{"/usr/sbin/haproxy", {}, Match::kAny, true};
  EXPECT_TRUE(matches(p, "haproxy", {"/usr/sbin/haproxy", "-f", "x"}));
  EXPECT_FALSE(matches(p, "haproxy", {"haproxy", "-f", "x"}));
}

TEST(ProcessMatch, ParameterMatching) {
  const std::vector<std::string> argv = {"/usr/sbin/haproxy", "-f", "/etc/h.cfg", "-db"};
  ProcessPattern exact{"haproxy", {"-f", "/etc/h.cfg", "-db"}, Match::kExact, false};
  EXPECT_TRUE(matches(exact, "haproxy", argv));
  exact.params = {"-f", "/etc/h.cfg"};
  EXPECT_FALSE(matches(exact, "haproxy", argv));
  ProcessPattern initial{"haproxy", {"-f", "/etc/h.cfg"}, Match::kInitial, false};
  EXPECT_TRUE(matches(initial, "haproxy", argv));
  initial.params = {"/etc/h.cfg"};
  EXPECT_FALSE(matches(initial, "haproxy", argv));
  ProcessPattern partial{"haproxy", {"/etc/h.cfg", "-db"}, Match::kPartial, false};
  EXPECT_TRUE(matches(partial, "haproxy", argv));
  partial.params = {"-db", "/etc/h.cfg"};
  EXPECT_FALSE(matches(partial, "haproxy", argv));
}

}  // namespace
}  // namespace tandem::vrrp::os
