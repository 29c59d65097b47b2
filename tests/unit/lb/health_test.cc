// Unit tests of the pure health-check core: rise/fall, intervals, HTTP check requests and
// expect rules, and log lines compared with what Debian's haproxy 2.6.12 wrote.
#include "lb/health.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tandem::lb::health {
namespace {

using std::chrono::milliseconds;

const core::TimePoint kT0{std::chrono::seconds(1000)};

Params params(uint32_t rise, uint32_t fall) {
  Params p;
  p.rise = rise;
  p.fall = fall;
  p.inter = milliseconds(1000);
  p.fastinter = milliseconds(300);
  p.downinter = milliseconds(700);
  return p;
}

CheckResult ok() {
  return {CheckStatus::kL7Ok, 200, "", milliseconds(0)};
}
CheckResult bad() {
  return {CheckStatus::kL4Con, 0, "Connection refused", milliseconds(0)};
}

// ---- state machine ----

// haproxy (rise 2, fall 2): every server with a failing first check was logged DOWN after
// that one check; its counter starts at `rise`.
TEST(HealthStateTest, StartsUpOneFailureFromDown) {
  ServerHealth h(params(2, 2));
  EXPECT_EQ(h.state(), State::kUp);
  EXPECT_EQ(h.health(), 2u);
  EXPECT_TRUE(h.going_down());  // "yet unchecked" counts as transitional
  EXPECT_EQ(h.record(bad(), kT0), Change::kWentDown);
  EXPECT_EQ(h.state(), State::kDown);
  EXPECT_EQ(h.health(), 0u);
  EXPECT_EQ(h.last_change(), kT0);
}

TEST(HealthStateTest, FirstPassMakesFullyUp) {
  ServerHealth h(params(3, 2));
  EXPECT_EQ(h.record(ok(), kT0), Change::kNone);
  EXPECT_EQ(h.health(), h.max_health());
  EXPECT_FALSE(h.going_down());
}

// haproxy (inter 500, fastinter 100, downinter 300, rise 2, fall 3): after passes, the 500s
// came at 1.769, 1.871 and 1.973 s and the DOWN line after the third.
TEST(HealthStateTest, FullyUpNeedsFallFailures) {
  ServerHealth h(params(2, 3));
  h.record(ok(), kT0);
  EXPECT_EQ(h.record(bad(), kT0), Change::kNone);
  EXPECT_TRUE(h.going_down());
  EXPECT_EQ(h.record(bad(), kT0), Change::kNone);
  EXPECT_EQ(h.state(), State::kUp);
  EXPECT_EQ(h.record(bad(), kT0), Change::kWentDown);
  EXPECT_EQ(h.down_transitions(), 1u);
}

// haproxy (rise 3, fall 3): a server answering 200, then 500, 500, 200 over and over never
// went DOWN; one answering 500, then 200, 200, 500 over and over never came back UP.
TEST(HealthStateTest, OnePassHealsGoingDown) {
  ServerHealth h(params(2, 3));
  h.record(ok(), kT0);
  h.record(bad(), kT0);
  h.record(bad(), kT0);
  h.record(ok(), kT0);
  EXPECT_EQ(h.health(), h.max_health());
  EXPECT_EQ(h.record(bad(), kT0), Change::kNone);
  EXPECT_EQ(h.record(bad(), kT0), Change::kNone);
  EXPECT_EQ(h.record(bad(), kT0), Change::kWentDown);
}

// haproxy (rise 3): the server came UP on the third passing check in a row.
TEST(HealthStateTest, DownNeedsRisePassesInARow) {
  ServerHealth h(params(3, 2));
  h.record(bad(), kT0);
  EXPECT_EQ(h.record(ok(), kT0), Change::kNone);
  EXPECT_TRUE(h.going_up());
  EXPECT_EQ(h.record(ok(), kT0), Change::kNone);
  EXPECT_EQ(h.record(bad(), kT0), Change::kNone);  // progress lost
  EXPECT_EQ(h.health(), 0u);
  EXPECT_EQ(h.record(ok(), kT0), Change::kNone);
  EXPECT_EQ(h.record(ok(), kT0), Change::kNone);
  EXPECT_EQ(h.record(ok(), kT0 + milliseconds(5)), Change::kWentUp);
  EXPECT_EQ(h.state(), State::kUp);
  EXPECT_EQ(h.health(), h.max_health());
  EXPECT_EQ(h.last_change(), kT0 + milliseconds(5));
}

TEST(HealthStateTest, RiseOneFallOne) {
  ServerHealth h(params(1, 1));
  EXPECT_EQ(h.health(), h.max_health());
  EXPECT_EQ(h.record(bad(), kT0), Change::kWentDown);
  EXPECT_EQ(h.record(ok(), kT0), Change::kWentUp);
}

TEST(HealthStateTest, CountersFollowHaproxyStats) {
  ServerHealth h(params(2, 2));
  h.record(ok(), kT0);
  h.record(bad(), kT0);  // UP: counted in chkfail
  h.record(bad(), kT0);  // UP -> DOWN: counted
  h.record(bad(), kT0);  // already DOWN: not counted
  EXPECT_EQ(h.checks(), 4u);
  EXPECT_EQ(h.failed_checks(), 2u);
  EXPECT_EQ(h.down_transitions(), 1u);
  ASSERT_TRUE(h.last_result());
  EXPECT_EQ(h.last_result()->status, CheckStatus::kL4Con);
}

// `disabled`: haproxy logged nothing for such a server and did not count it.
TEST(HealthStateTest, DisabledIsMaintAndIgnoresResults) {
  Params p = params(2, 3);
  p.disabled = true;
  ServerHealth h(p);
  EXPECT_EQ(h.state(), State::kMaint);
  EXPECT_EQ(h.record(ok(), kT0), Change::kNone);
  EXPECT_EQ(h.state(), State::kMaint);
  EXPECT_EQ(h.checks(), 0u);
  h.set_maintenance(false, kT0);
  EXPECT_EQ(h.state(), State::kUp);
  EXPECT_EQ(h.health(), 2u);
  EXPECT_EQ(h.record(bad(), kT0), Change::kWentDown);
  h.set_maintenance(true, kT0);
  EXPECT_EQ(h.state(), State::kMaint);
  EXPECT_EQ(to_string(h.state()), "MAINT");
}

TEST(HealthStateTest, ParamsFromServerLine) {
  ServerParams sp;
  sp.inter = milliseconds(500);
  sp.downinter = milliseconds(900);
  sp.rise = 4;
  sp.fall = 5;
  Params p = params_from(sp);
  EXPECT_EQ(p.inter, milliseconds(500));
  EXPECT_EQ(p.fastinter, milliseconds(500));
  EXPECT_EQ(p.downinter, milliseconds(900));
  EXPECT_EQ(p.rise, 4u);
  EXPECT_EQ(p.fall, 5u);
}

// ---- intervals ----

// haproxy (inter 1000, fastinter 300, downinter 700, rise 3): DOWN checks 700 ms apart, then
// 300 ms while going up, then 1000 ms once UP.
TEST(HealthCheckScheduleTest, IntervalFollowsState) {
  ServerHealth h(params(3, 2));
  EXPECT_EQ(h.interval(), milliseconds(300));  // unchecked: fastinter
  h.record(ok(), kT0);
  EXPECT_EQ(h.interval(), milliseconds(1000));  // fully UP: inter
  h.record(bad(), kT0);
  EXPECT_EQ(h.interval(), milliseconds(300));  // going down: fastinter
  h.record(bad(), kT0);
  EXPECT_EQ(h.interval(), milliseconds(700));  // fully DOWN: downinter
  h.record(ok(), kT0);
  EXPECT_EQ(h.interval(), milliseconds(300));  // going up: fastinter
  h.record(ok(), kT0);
  h.record(ok(), kT0);
  EXPECT_EQ(h.interval(), milliseconds(1000));
}

TEST(HealthCheckScheduleTest, RiseOneFallOneUsesInterAtStart) {
  ServerHealth h(params(1, 1));
  EXPECT_EQ(h.interval(), milliseconds(1000));  // health == rise == top
}

TEST(HealthCheckScheduleTest, FirstChecksAreSpreadOverTheSmallestInterval) {
  EXPECT_EQ(first_check_delay(0, 4, milliseconds(1000)), milliseconds(0));
  EXPECT_EQ(first_check_delay(1, 4, milliseconds(1000)), milliseconds(250));
  EXPECT_EQ(first_check_delay(3, 4, milliseconds(1000)), milliseconds(750));
  EXPECT_EQ(first_check_delay(0, 0, milliseconds(1000)), milliseconds(0));
}

TEST(HealthCheckScheduleTest, SpreadChecks) {
  EXPECT_EQ(spread(milliseconds(1000), 0, 0.3), milliseconds(1000));
  EXPECT_EQ(spread(milliseconds(1000), 10, 0.0), milliseconds(1100));
  EXPECT_EQ(spread(milliseconds(1000), 10, 1.0), milliseconds(900));
  EXPECT_EQ(spread(milliseconds(1000), 10, 0.5), milliseconds(1000));
  EXPECT_EQ(spread(milliseconds(1000), 80, 1.0), milliseconds(500));  // capped at 50%
}

// haproxy: "timeout connect 300, timeout check 200, inter 2000" gave an L4TOUT after 301ms;
// no timeout check and "inter 500" an L4TOUT after 500ms.
TEST(HealthCheckScheduleTest, Timeouts) {
  CheckTimeouts a = check_timeouts(milliseconds(2000), milliseconds(300), milliseconds(200));
  EXPECT_EQ(a.connect, milliseconds(300));
  EXPECT_EQ(a.after_connect, milliseconds(200));
  CheckTimeouts b = check_timeouts(milliseconds(500), milliseconds(1000), std::nullopt);
  EXPECT_EQ(b.connect, milliseconds(500));
  EXPECT_FALSE(b.after_connect);
  CheckTimeouts c = check_timeouts(milliseconds(500), milliseconds(1000), milliseconds(300));
  EXPECT_EQ(c.connect, milliseconds(500));  // min(timeout connect, inter)
  CheckTimeouts d = check_timeouts(milliseconds(500), std::nullopt, milliseconds(300));
  EXPECT_EQ(d.connect, milliseconds(500));
}

// ---- HTTP request ----

// Bytes haproxy sent, read by a fake server.
TEST(HealthCheckRequestTest, DefaultRequest) {
  HttpCheck c;
  c.enabled = true;
  EXPECT_EQ(build_request(c), "OPTIONS / HTTP/1.0\r\n\r\n");
}

TEST(HealthCheckRequestTest, Http11GetsConnectionClose) {
  HttpCheck c;
  c.method = "GET";
  c.uri = "/b";
  c.version = "HTTP/1.1";
  EXPECT_EQ(build_request(c), "GET /b HTTP/1.1\r\nconnection: close\r\n\r\n");
}

TEST(HealthCheckRequestTest, HeadersLowerCased) {
  // option httpchk GET /health HTTP/1.1 + http-check send hdr Host example.com hdr X-Check yes
  HttpCheck c;
  c.method = "GET";
  c.uri = "/health";
  c.version = "HTTP/1.1";
  c.headers = {{"Host", "example.com"}, {"X-Check", "yes"}};
  EXPECT_EQ(
      build_request(c),
      "GET /health HTTP/1.1\r\nhost: example.com\r\nx-check: yes\r\nconnection: close\r\n\r\n");
  c.version = "HTTP/1.0";
  c.uri = "/a";
  c.headers = {{"Host", "h"}};
  EXPECT_EQ(build_request(c), "GET /a HTTP/1.0\r\nhost: h\r\n\r\n");
}

TEST(HealthCheckRequestTest, BodyGetsLength) {
  // option httpchk POST /p HTTP/1.1 + http-check send hdr Host h body "abc"
  HttpCheck c;
  c.method = "POST";
  c.uri = "/p";
  c.version = "HTTP/1.1";
  c.headers = {{"Host", "h"}};
  c.body = "abc";
  EXPECT_EQ(build_request(c),
            "POST /p HTTP/1.1\r\nhost: h\r\ncontent-length: 3\r\nconnection: close\r\n\r\nabc");
}

// ---- expect rules ----

ExpectRule rule(HttpCheck::Expect::Kind kind, std::string pattern, bool negate = false) {
  HttpCheck::Expect e;
  e.kind = kind;
  e.pattern = std::move(pattern);
  e.negate = negate;
  auto r = ExpectRule::compile(e);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return *r;
}

using K = HttpCheck::Expect::Kind;

TEST(HealthCheckExpectTest, DefaultAcceptsTwoAndThreeHundreds) {
  auto r = ExpectRule::compile(std::nullopt);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->evaluate({200, "OK", ""}), (CheckResult{CheckStatus::kL7Ok, 200, "", {}}));
  EXPECT_EQ(r->evaluate({302, "Found", ""}).status, CheckStatus::kL7Ok);
  EXPECT_EQ(r->evaluate({404, "Not Found", ""}),
            (CheckResult{CheckStatus::kL7Sts, 404, "Not Found", {}}));
  EXPECT_EQ(r->evaluate({500, "", ""}), (CheckResult{CheckStatus::kL7Sts, 500, "", {}}));
  EXPECT_EQ(r->evaluate({199, "X", ""}).status, CheckStatus::kL7Sts);
  EXPECT_FALSE(r->needs_body());
}

TEST(HealthCheckExpectTest, StatusListAndRanges) {
  ExpectRule r = rule(K::kStatus, "200,302-304");
  EXPECT_TRUE(r.evaluate({200, "OK", ""}).passed());
  EXPECT_TRUE(r.evaluate({303, "See Other", ""}).passed());
  EXPECT_EQ(r.evaluate({301, "Moved", ""}), (CheckResult{CheckStatus::kL7Sts, 301, "Moved", {}}));
  EXPECT_TRUE(rule(K::kStatus, "404").evaluate({404, "Not Found", ""}).passed());
  EXPECT_FALSE(ExpectRule::compile(HttpCheck::Expect{K::kStatus, false, "20x", {}}));
  EXPECT_FALSE(ExpectRule::compile(HttpCheck::Expect{K::kStatus, false, "300-200", {}}));
}

// haproxy: "expect ! status 200" against a 200: L7STS, code 200, info "OK"; against a 503: UP.
TEST(HealthCheckExpectTest, NegatedStatus) {
  ExpectRule r = rule(K::kStatus, "200", true);
  EXPECT_EQ(r.evaluate({200, "OK", ""}), (CheckResult{CheckStatus::kL7Sts, 200, "OK", {}}));
  EXPECT_EQ(r.evaluate({503, "Service Unavailable", ""}),
            (CheckResult{CheckStatus::kL7Ok, 503, "", {}}));
}

TEST(HealthCheckExpectTest, Rstatus) {
  ExpectRule r = rule(K::kRstatus, "^(2|4)0[04]$");
  EXPECT_TRUE(r.evaluate({404, "Not Found", ""}).passed());
  EXPECT_TRUE(r.evaluate({200, "OK", ""}).passed());
  EXPECT_EQ(r.evaluate({500, "Internal Server Error", ""}),
            (CheckResult{CheckStatus::kL7Sts, 500, "Internal Server Error", {}}));
  ExpectRule n = rule(K::kRstatus, "^4", true);
  EXPECT_EQ(n.evaluate({404, "Not Found", ""}).status, CheckStatus::kL7Sts);
  EXPECT_TRUE(n.evaluate({200, "OK", ""}).passed());
  EXPECT_FALSE(ExpectRule::compile(HttpCheck::Expect{K::kRstatus, false, "(", {}}));
}

// haproxy: body rules ignore the status (a 500 with "hello" passed "expect string hello").
TEST(HealthCheckExpectTest, StringIgnoresStatus) {
  ExpectRule r = rule(K::kString, "hello");
  EXPECT_TRUE(r.needs_body());
  EXPECT_EQ(r.evaluate({500, "Internal Server Error", "hello"}),
            (CheckResult{CheckStatus::kL7Ok, 500, "", {}}));
  EXPECT_EQ(r.evaluate({200, "OK", "nothing"}),
            (CheckResult{CheckStatus::kL7Rsp, 200, "HTTP content check did not match", {}}));
}

TEST(HealthCheckExpectTest, NegatedStringAndRstring) {
  ExpectRule n = rule(K::kString, "hello", true);
  EXPECT_EQ(n.evaluate({200, "OK", "hello"}),
            (CheckResult{CheckStatus::kL7Rsp, 200, "HTTP check matched unwanted content", {}}));
  EXPECT_TRUE(n.evaluate({200, "OK", "bye"}).passed());
  ExpectRule rs = rule(K::kRstring, "wor.d");
  EXPECT_TRUE(rs.evaluate({200, "OK", "hello world"}).passed());
  EXPECT_EQ(rs.evaluate({200, "OK", "hello"}).info, "HTTP content check did not match");
  ExpectRule nrs = rule(K::kRstring, "^hel", true);
  EXPECT_EQ(nrs.evaluate({200, "OK", "hello world"}).info, "HTTP check matched unwanted content");
  EXPECT_TRUE(nrs.evaluate({500, "X", "nothing"}).passed());
}

// haproxy: an empty body fails a body rule, negated or not, with its own message.
TEST(HealthCheckExpectTest, EmptyBody) {
  for (bool neg : {false, true}) {
    EXPECT_EQ(
        rule(K::kString, "hello", neg).evaluate({503, "Service Unavailable", ""}),
        (CheckResult{
            CheckStatus::kL7Rsp, 503, "HTTP content check could not find a response body", {}}));
  }
}

// ---- reading a response ----

TEST(HealthCheckReaderTest, StatusRuleDecidesAtHead) {
  auto r = ExpectRule::compile(std::nullopt);
  ResponseReader reader(*r, "OPTIONS");
  EXPECT_FALSE(reader.feed("HTTP/1.1 500 Internal Ser"));
  auto v = reader.feed("ver Error\r\nContent-Length: 100\r\n\r\npartial");
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, (CheckResult{CheckStatus::kL7Sts, 500, "Internal Server Error", {}}));
}

TEST(HealthCheckReaderTest, BodyRuleWaitsForTheBody) {
  ExpectRule r = rule(K::kString, "world");
  ResponseReader reader(r, "GET");
  EXPECT_FALSE(reader.feed("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello "));
  auto v = reader.feed("world");
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->passed());
}

TEST(HealthCheckReaderTest, ChunkedBodyIsDechunked) {
  ExpectRule r = rule(K::kString, "hello world");
  ResponseReader reader(r, "GET");
  auto v = reader.feed(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello "
      "\r\n5\r\nworld\r\n0\r\n\r\n");
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->passed());
}

// haproxy: "HTTP/1.0 200 OK" with a body until close, and a body cut short by a close, were
// both judged on what arrived ("did not match").
TEST(HealthCheckReaderTest, BodyUntilCloseAndTruncatedBody) {
  ExpectRule r = rule(K::kString, "nomatch");
  ResponseReader a(r, "OPTIONS");
  EXPECT_FALSE(a.feed("HTTP/1.0 200 OK\r\n\r\nhello world"));
  EXPECT_EQ(a.finish().info, "HTTP content check did not match");
  ResponseReader b(r, "OPTIONS");
  EXPECT_FALSE(b.feed("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello"));
  EXPECT_EQ(b.finish().info, "HTTP content check did not match");
  ExpectRule h = rule(K::kString, "hello");
  ResponseReader c(h, "OPTIONS");
  EXPECT_FALSE(c.feed("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello"));
  EXPECT_TRUE(c.finish().passed());
}

// haproxy: garbage, a close before any answer and a truncated head are L7RSP without info.
TEST(HealthCheckReaderTest, InvalidResponses) {
  auto r = ExpectRule::compile(std::nullopt);
  ResponseReader garbage(*r, "OPTIONS");
  EXPECT_EQ(garbage.feed("garbage\r\n\r\n"), (CheckResult{CheckStatus::kL7Rsp, 0, "", {}}));
  ResponseReader nothing(*r, "OPTIONS");
  EXPECT_EQ(nothing.finish(), (CheckResult{CheckStatus::kL7Rsp, 0, "", {}}));
  ResponseReader cut(*r, "OPTIONS");
  EXPECT_FALSE(cut.feed("HTTP/1.1 200 OK\r\nContent-Le"));
  EXPECT_EQ(cut.finish().status, CheckStatus::kL7Rsp);
}

TEST(HealthCheckReaderTest, BodyBoundedToOneBuffer) {
  ExpectRule r = rule(K::kString, "needle");
  ResponseReader reader(r, "GET", 8);
  auto v = reader.feed("HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n0123456789needle");
  ASSERT_TRUE(v);  // decided at 8 bytes, without waiting for the rest
  EXPECT_EQ(v->info, "HTTP content check did not match");
}

TEST(HealthCheckReaderTest, HeadResponseHasNoBody) {
  ExpectRule r = rule(K::kString, "x");
  ResponseReader reader(r, "HEAD");
  auto v = reader.feed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->info, "HTTP content check could not find a response body");
}

// haproxy: "expect status 100" passed on "100 Continue" followed by a 200: the first head counts.
TEST(HealthCheckReaderTest, FirstHeadDecidesEvenInterim) {
  ExpectRule r = rule(K::kStatus, "100");
  ResponseReader reader(r, "OPTIONS");
  auto v = reader.feed("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->passed());
}

// ---- log lines ----
// Each expected string is a line Debian's haproxy 2.6.12-1+deb12u4 wrote with
// "log stdout format raw local0", servers on 127.0.0.1.

CheckResult res(CheckStatus s, int code, std::string info, int ms) {
  return {s, code, std::move(info), milliseconds(ms)};
}

TEST(HealthCheckLogTest, DownConnectionRefused) {
  // Server be_l4con/s1 is DOWN, reason: Layer4 connection problem, info: "Connection refused",
  // check duration: 0ms. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0
  // remaining in queue.
  EXPECT_EQ(down_line("be_l4con", "s1", false, res(CheckStatus::kL4Con, 0, "Connection refused", 0),
                      {.active = 1}),
            "Server be_l4con/s1 is DOWN, reason: Layer4 connection problem, info: \"Connection "
            "refused\", check duration: 0ms. 1 active and 0 backup servers left. 0 sessions "
            "active, 0 requeued, 0 remaining in queue.");
}

TEST(HealthCheckLogTest, DownRunningOnBackup) {
  EXPECT_EQ(down_line("be_backup", "s1", false,
                      res(CheckStatus::kL4Con, 0, "Connection refused", 0), {.backup = 2}),
            "Server be_backup/s1 is DOWN, reason: Layer4 connection problem, info: \"Connection "
            "refused\", check duration: 0ms. 0 active and 2 backup servers left. Running on "
            "backup. 0 sessions active, 0 requeued, 0 remaining in queue.");
  EXPECT_EQ(down_line("be_backup", "b2", true, res(CheckStatus::kL4Con, 0, "Connection refused", 0),
                      {.backup = 1}),
            "Backup Server be_backup/b2 is DOWN, reason: Layer4 connection problem, info: "
            "\"Connection refused\", check duration: 0ms. 0 active and 1 backup servers left. "
            "Running on backup. 0 sessions active, 0 requeued, 0 remaining in queue.");
}

TEST(HealthCheckLogTest, DownLayer7) {
  EXPECT_EQ(down_line("be_500", "s1", false,
                      res(CheckStatus::kL7Sts, 500, "Internal Server Error", 0), {}),
            "Server be_500/s1 is DOWN, reason: Layer7 wrong status, code: 500, info: \"Internal "
            "Server Error\", check duration: 0ms. 0 active and 0 backup servers left. 0 sessions "
            "active, 0 requeued, 0 remaining in queue.");
  // An empty reason phrase ("HTTP/1.1 500\r\n"): no info part.
  EXPECT_EQ(down_line("be_empty_reason", "s1", false, res(CheckStatus::kL7Sts, 500, "", 0), {}),
            "Server be_empty_reason/s1 is DOWN, reason: Layer7 wrong status, code: 500, check "
            "duration: 0ms. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 "
            "remaining in queue.");
  EXPECT_EQ(down_line("be_garbage", "s1", false, res(CheckStatus::kL7Rsp, 0, "", 0), {}),
            "Server be_garbage/s1 is DOWN, reason: Layer7 invalid response, check duration: 0ms. "
            "0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in "
            "queue.");
  EXPECT_EQ(down_line("be_str", "s1", false,
                      res(CheckStatus::kL7Rsp, 200, "HTTP content check did not match", 0), {}),
            "Server be_str/s1 is DOWN, reason: Layer7 invalid response, info: \"HTTP content "
            "check did not match\", check duration: 0ms. 0 active and 0 backup servers left. 0 "
            "sessions active, 0 requeued, 0 remaining in queue.");
  EXPECT_EQ(down_line("be_nrstr", "s1", false,
                      res(CheckStatus::kL7Rsp, 200, "HTTP check matched unwanted content", 1), {}),
            "Server be_nrstr/s1 is DOWN, reason: Layer7 invalid response, info: \"HTTP check "
            "matched unwanted content\", check duration: 1ms. 0 active and 0 backup servers left. "
            "0 sessions active, 0 requeued, 0 remaining in queue.");
}

TEST(HealthCheckLogTest, DownTimeoutsAndSocketError) {
  EXPECT_EQ(down_line("be_tout", "s1", false, res(CheckStatus::kL7Tout, 0, "", 301), {}),
            "Server be_tout/s1 is DOWN, reason: Layer7 timeout, check duration: 301ms. 0 active "
            "and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.");
  EXPECT_EQ(down_line("be_l4tout", "s1", false, res(CheckStatus::kL4Tout, 0, "", 500), {}),
            "Server be_l4tout/s1 is DOWN, reason: Layer4 timeout, check duration: 500ms. 0 active "
            "and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.");
  EXPECT_EQ(down_line("be_flap", "s2", false,
                      res(CheckStatus::kSockErr, 0, "Connection reset by peer", 0), {.backup = 1}),
            "Server be_flap/s2 is DOWN, reason: Socket error, info: \"Connection reset by peer\", "
            "check duration: 0ms. 0 active and 1 backup servers left. Running on backup. 0 "
            "sessions active, 0 requeued, 0 remaining in queue.");
}

TEST(HealthCheckLogTest, Up) {
  EXPECT_EQ(up_line("be_flap", "s1", false, res(CheckStatus::kL7Ok, 200, "", 0), {.active = 1}),
            "Server be_flap/s1 is UP, reason: Layer7 check passed, code: 200, check duration: 0ms. "
            "1 active and 0 backup servers online. 0 sessions requeued, 0 total in queue.");
  EXPECT_EQ(up_line("be_l4", "s1", false, res(CheckStatus::kL4Ok, 0, "", 0), {.active = 1}),
            "Server be_l4/s1 is UP, reason: Layer4 check passed, check duration: 0ms. 1 active and "
            "0 backup servers online. 0 sessions requeued, 0 total in queue.");
  EXPECT_EQ(
      up_line("be_l7", "b1", true, res(CheckStatus::kL7Ok, 200, "", 0), {.active = 2, .backup = 1}),
      "Backup Server be_l7/b1 is UP, reason: Layer7 check passed, code: 200, check duration: "
      "0ms. 2 active and 1 backup servers online. 0 sessions requeued, 0 total in queue.");
  EXPECT_EQ(up_line("be", "b1", true, res(CheckStatus::kL4Ok, 0, "", 0), {.backup = 1}),
            "Backup Server be/b1 is UP, reason: Layer4 check passed, check duration: 0ms. 0 active "
            "and 1 backup servers online. Running on backup. 0 sessions requeued, 0 total in "
            "queue.");
}

TEST(HealthCheckLogTest, CountsFromTheCaller) {
  PoolCounts c{.active = 3, .backup = 2, .sessions = 7, .requeued = 4, .queued = 9};
  EXPECT_EQ(down_line("b", "s", false, res(CheckStatus::kL4Tout, 0, "", 12), c),
            "Server b/s is DOWN, reason: Layer4 timeout, check duration: 12ms. 3 active and 2 "
            "backup servers left. 7 sessions active, 4 requeued, 9 remaining in queue.");
  EXPECT_EQ(up_line("b", "s", false, res(CheckStatus::kL7Ok, 204, "", 3), c),
            "Server b/s is UP, reason: Layer7 check passed, code: 204, check duration: 3ms. 3 "
            "active and 2 backup servers online. 4 sessions requeued, 9 total in queue.");
}

TEST(HealthCheckLogTest, NoServerAvailable) {
  // backend be_l4con_only has no server available!
  EXPECT_EQ(no_server_line("be_l4con_only"), "backend be_l4con_only has no server available!");
}

TEST(HealthCheckLogTest, StatusNames) {
  EXPECT_EQ(status_name(CheckStatus::kL4Con), "L4CON");
  EXPECT_EQ(status_name(CheckStatus::kL7Sts), "L7STS");
  EXPECT_EQ(status_name(CheckStatus::kSockErr), "SOCKERR");
  EXPECT_EQ(status_description(CheckStatus::kL7Tout), "Layer7 timeout");
}

}  // namespace
}  // namespace tandem::lb::health
