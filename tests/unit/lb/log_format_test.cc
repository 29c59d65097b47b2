// Log lines and syslog framing against lines captured from Debian's haproxy 2.6.12 on
// loopback (option httplog/tcplog, the default format, dontlognull, every `format`).
#include "lb/log_format.h"

#include <gtest/gtest.h>

#include <string>

#include "lb/config.h"

namespace tandem::lb::logfmt {
namespace {

LocalTime at(int day, int h, int m, int s, int usec, int month = 11, int year = 2026) {
  return LocalTime{.year = year,
                   .month = month,
                   .day = day,
                   .hour = h,
                   .minute = m,
                   .second = s,
                   .usec = usec,
                   .utc_offset_minutes = 0};
}

// The common shape of the captured HTTP lines: one connection, nothing queued.
SessionLog http(uint16_t port, LocalTime date, std::string fe, std::string be, std::string srv) {
  SessionLog s;
  s.client_ip = "127.0.0.1";
  s.client_port = port;
  s.date = date;
  s.frontend = std::move(fe);
  s.backend = std::move(be);
  s.server = std::move(srv);
  s.actconn = 1;
  s.feconn = 1;
  s.bytes_in = 40;
  return s;
}

void timers(SessionLog& s, int64_t tr, int64_t tw, int64_t tc, int64_t tres, int64_t ta) {
  s.t_request = tr;
  s.t_queue = tw;
  s.t_connect = tc;
  s.t_response = tres;
  s.t_active = ta;
}

// ---- option httplog ----

TEST(LogFormatHttp, Ok200) {
  auto s = http(34298, at(26, 10, 36, 28, 972000), "fe_http", "be_ok", "s1");
  timers(s, 0, 0, 0, 3, 3);
  s.status = 200;
  s.bytes_out = 185;
  s.request_line = "GET /index.html HTTP/1.1";
  EXPECT_EQ(format_http_log(s),
            "127.0.0.1:34298 [26/Nov/2026:10:36:28.972] fe_http be_ok/s1 0/0/0/3/3 200 185 - - "
            "---- 1/1/0/0/0 0/0 \"GET /index.html HTTP/1.1\"");
}

TEST(LogFormatHttp, NotFound404) {
  auto s = http(34306, at(26, 10, 36, 29, 276000), "fe_http", "be_ok", "s1");
  timers(s, 0, 0, 0, 1, 1);
  s.status = 404;
  s.bytes_out = 500;
  s.request_line = "GET /nope HTTP/1.1";
  EXPECT_EQ(format_http_log(s),
            "127.0.0.1:34306 [26/Nov/2026:10:36:29.276] fe_http be_ok/s1 0/0/0/1/1 404 500 - - "
            "---- 1/1/0/0/0 0/0 \"GET /nope HTTP/1.1\"");
}

TEST(LogFormatHttp, NoServer503) {
  auto s = http(51892, at(26, 10, 36, 29, 578000), "fe_nosrv", "be_nosrv", "");
  timers(s, 0, kNotReached, kNotReached, kNotReached, 0);
  s.status = 503;
  s.bytes_out = 217;
  s.termination = termination_state(SessionEnd::kServerRefused, TermPhase::kConnect);
  s.request_line = "GET / HTTP/1.1";
  EXPECT_EQ(format_http_log(s),
            "127.0.0.1:51892 [26/Nov/2026:10:36:29.578] fe_nosrv be_nosrv/<NOSRV> 0/-1/-1/-1/0 "
            "503 217 - - SC-- 1/1/0/0/0 0/0 \"GET / HTTP/1.1\"");
}

TEST(LogFormatHttp, ServerTimeoutBeforeHeaders) {
  auto s = http(51570, at(26, 10, 36, 29, 879000), "fe_sto", "be_sto", "s1");
  timers(s, 0, 0, 0, kNotReached, 302);
  s.status = 504;
  s.bytes_out = 198;
  s.termination = termination_state(SessionEnd::kServerTimeout, TermPhase::kHeaders);
  s.request_line = "GET / HTTP/1.1";
  EXPECT_EQ(format_http_log(s),
            "127.0.0.1:51570 [26/Nov/2026:10:36:29.879] fe_sto be_sto/s1 0/0/0/-1/302 504 198 - - "
            "sH-- 1/1/0/0/0 0/0 \"GET / HTTP/1.1\"");
}

TEST(LogFormatHttp, ConnectionRefusedAfterRetries) {
  auto s = http(43140, at(26, 10, 36, 30, 481000), "fe_ref", "be_ref", "s1");
  timers(s, 0, 0, kNotReached, kNotReached, 2003);
  s.status = 503;
  s.bytes_out = 217;
  s.retries = 2;
  s.termination = termination_state(SessionEnd::kServerRefused, TermPhase::kConnect);
  s.request_line = "GET / HTTP/1.1";
  EXPECT_EQ(
      format_http_log(s),
      "127.0.0.1:43140 [26/Nov/2026:10:36:30.481] fe_ref be_ref/s1 0/0/-1/-1/2003 503 217 - - "
      "SC-- 1/1/0/0/2 0/0 \"GET / HTTP/1.1\"");
}

TEST(LogFormatHttp, Redispatch) {
  auto s = http(51622, at(26, 10, 36, 32, 786000), "fe_redisp", "be_redisp", "s2");
  timers(s, 0, 0, 0, 1, 1);
  s.status = 200;
  s.bytes_out = 185;
  s.retries = 1;
  s.redispatched = true;
  s.request_line = "GET /index.html HTTP/1.1";
  EXPECT_EQ(format_http_log(s),
            "127.0.0.1:51622 [26/Nov/2026:10:36:32.786] fe_redisp be_redisp/s2 0/0/0/1/1 200 185 "
            "- - ---- 1/1/0/0/+1 0/0 \"GET /index.html HTTP/1.1\"");
}

TEST(LogFormatHttp, ServerTimeoutInData) {
  auto s = http(54636, at(26, 10, 36, 33, 88000), "fe_cd", "be_cd", "s1");
  timers(s, 0, 0, 0, 0, 3002);
  s.status = 200;
  s.bytes_out = 1054;
  s.termination = termination_state(SessionEnd::kServerTimeout, TermPhase::kData);
  s.request_line = "GET / HTTP/1.1";
  EXPECT_EQ(format_http_log(s),
            "127.0.0.1:54636 [26/Nov/2026:10:36:33.088] fe_cd be_cd/s1 0/0/0/0/3002 200 1054 - - "
            "sD-- 1/1/0/0/0 0/0 \"GET / HTTP/1.1\"");
}

// A client that reset the connection during a 100 MB body, logged with `len 100`: stdout
// got 99 characters and "\n", the UDP target 100 bytes and "\n" (captured).
TEST(LogFormatHttp, ClientResetInDataWithLen100) {
  auto s = http(49372, at(26, 10, 42, 49, 926000), "fe_cd", "be_big", "s1");
  timers(s, 0, 0, 0, 0, 504);
  s.status = 200;
  s.bytes_out = 3899448;
  s.termination = termination_state(SessionEnd::kClientAbort, TermPhase::kData);
  s.request_line = "GET /big HTTP/1.1";
  const std::string line = format_http_log(s);
  EXPECT_EQ(line,
            "127.0.0.1:49372 [26/Nov/2026:10:42:49.926] fe_cd be_big/s1 0/0/0/0/504 200 3899448 - "
            "- CD-- 1/1/0/0/0 0/0 \"GET /big HTTP/1.1\"");
  SyslogHeader h{.framing = Framing::kRaw, .now = at(26, 10, 42, 50, 0), .pid = 5884};
  EXPECT_EQ(frame(h, line, 100, SinkKind::kStream),
            "127.0.0.1:49372 [26/Nov/2026:10:42:49.926] fe_cd be_big/s1 0/0/0/0/504 200 3899448 - "
            "- CD-- 1/1/0/0\n");
  h.framing = Framing::kLocal;
  EXPECT_EQ(frame(h, line, 100, SinkKind::kSocket),
            "<134>Nov 26 10:42:50 haproxy[5884]: 127.0.0.1:49372 [26/Nov/2026:10:42:49.926] fe_cd "
            "be_big/s1 0/0/0\n");
}

// The same fate while haproxy only waited on the server was not noticed by 2.6 (it logged
// sD at the server timeout); the shape with other timers.
TEST(LogFormatHttp, ClientAbortInData) {
  auto s = http(40000, at(26, 10, 36, 33, 88000), "fe_cd", "be_cd", "s1");
  timers(s, 0, 0, 0, 0, 512);
  s.status = 200;
  s.bytes_out = 1054;
  s.termination = termination_state(SessionEnd::kClientAbort, TermPhase::kData);
  s.request_line = "GET / HTTP/1.1";
  EXPECT_EQ(format_http_log(s),
            "127.0.0.1:40000 [26/Nov/2026:10:36:33.088] fe_cd be_cd/s1 0/0/0/0/512 200 1054 - - "
            "CD-- 1/1/0/0/0 0/0 \"GET / HTTP/1.1\"");
}

TEST(LogFormatHttp, EmptyConnectionWithoutDontlognull) {
  auto s = http(52472, at(26, 10, 36, 36, 99000), "fe_http", "fe_http", "");
  timers(s, kNotReached, kNotReached, kNotReached, kNotReached, 200);
  s.status = 400;
  s.bytes_in = 0;
  s.termination = termination_state(SessionEnd::kClientAbort, TermPhase::kRequest);
  EXPECT_EQ(format_http_log(s),
            "127.0.0.1:52472 [26/Nov/2026:10:36:36.099] fe_http fe_http/<NOSRV> -1/-1/-1/-1/200 "
            "400 0 - - CR-- 1/1/0/0/0 0/0 \"<BADREQ>\"");
}

TEST(LogFormatHttp, BadRequest) {
  auto s = http(52524, at(26, 10, 36, 38, 4000), "fe_http", "fe_http", "");
  timers(s, kNotReached, kNotReached, kNotReached, kNotReached, 0);
  s.status = 400;
  s.termination = termination_state(SessionEnd::kDenied, TermPhase::kRequest);
  EXPECT_EQ(format_http_log(s),
            "127.0.0.1:52524 [26/Nov/2026:10:36:38.004] fe_http fe_http/<NOSRV> -1/-1/-1/-1/0 "
            "400 0 - - PR-- 1/1/0/0/0 0/0 \"<BADREQ>\"");
}

TEST(LogFormatHttp, Http10Post) {
  auto s = http(52514, at(26, 10, 36, 37, 703000), "fe_http", "be_ok", "s1");
  timers(s, 0, 0, 0, 0, 0);
  s.status = 501;
  s.bytes_out = 535;
  s.request_line = "POST /x HTTP/1.0";
  EXPECT_EQ(format_http_log(s),
            "127.0.0.1:52514 [26/Nov/2026:10:36:37.703] fe_http be_ok/s1 0/0/0/0/0 501 535 - - "
            "---- 1/1/0/0/0 0/0 \"POST /x HTTP/1.0\"");
}

TEST(LogFormatHttp, Ipv6Client) {
  auto s = http(60584, at(26, 10, 37, 44, 702000), "fe_http", "be_ok", "s1");
  s.client_ip = "::1";
  timers(s, 0, 0, 0, 1, 1);
  s.status = 200;
  s.bytes_out = 185;
  s.request_line = "GET /index.html HTTP/1.1";
  EXPECT_EQ(format_http_log(s),
            "::1:60584 [26/Nov/2026:10:37:44.702] fe_http be_ok/s1 0/0/0/1/1 200 185 - - ---- "
            "1/1/0/0/0 0/0 \"GET /index.html HTTP/1.1\"");
}

TEST(LogFormatHttp, QuoteAndHashEscapedBracesKept) {
  auto s = http(33424, at(26, 10, 37, 44, 97000), "fe_http", "be_ok", "s1");
  timers(s, 0, 0, 0, 3, 3);
  s.status = 404;
  s.bytes_out = 500;
  s.request_line = "GET /a\"b#c{d|e}f~%20 HTTP/1.1";
  EXPECT_EQ(format_http_log(s),
            "127.0.0.1:33424 [26/Nov/2026:10:37:44.097] fe_http be_ok/s1 0/0/0/3/3 404 500 - - "
            "---- 1/1/0/0/0 0/0 \"GET /a#22b#23c{d|e}f~%20 HTTP/1.1\"");
}

TEST(LogFormatHttp, NonPrintableEscapedUppercaseHex) {
  // haproxy's parser refused these bytes on the wire, so this follows log.c's url_encode_map:
  // below 32, 127 and above, '"' and '#' become '#' and two upper-case hex digits.
  EXPECT_EQ(escape_request_line(std::string("a\x01\x1f \x7f\x80\xff\"#~", 10)),
            "a#01#1F #7F#80#FF#22#23~");
  EXPECT_EQ(escape_request_line(std::string("\0z", 2)), "#00z");
}

TEST(LogFormatHttp, TlsFrontendGetsTilde) {
  auto s = http(1, at(1, 0, 0, 0, 0, 1), "fe", "be", "s");
  s.frontend_tls = true;
  s.request_line = "GET / HTTP/1.1";
  EXPECT_NE(format_http_log(s).find(" fe~ be/s "), std::string::npos);
}

// A 3000-byte path: haproxy's line stops at 1023 characters, mid-request, with no closing
// quote (captured: length 1023 on stdout, "...aaaa" at the end).
TEST(LogFormatHttp, LongRequestLineTruncatedAt1023) {
  auto s = http(52498, at(26, 10, 36, 37, 401000), "fe_http", "be_ok", "s1");
  timers(s, 0, 0, 0, 1, 1);
  s.status = 404;
  s.bytes_out = 500;
  s.request_line = "GET /" + std::string(3000, 'a') + " HTTP/1.1";
  const std::string prefix =
      "127.0.0.1:52498 [26/Nov/2026:10:36:37.401] fe_http be_ok/s1 0/0/0/1/1 404 500 - - ---- "
      "1/1/0/0/0 0/0 \"GET /";
  std::string line = format_http_log(s);
  ASSERT_EQ(line.size(), 1023u);
  EXPECT_EQ(line, prefix + std::string(1023 - prefix.size(), 'a'));

  // With a larger `len`, the request capture (tune.http.logurilen) is the limit.
  std::string wide = format_http_log(s, 8191);
  EXPECT_EQ(wide, prefix + std::string(1023 - 5, 'a') + "\"");
}

TEST(LogFormatHttp, EscapeNeedsFourCharactersOfRoom) {
  auto s = http(1, at(1, 0, 0, 0, 0, 1), "f", "b", "s");
  s.request_line = "GET /\"";
  std::string full = format_http_log(s);
  ASSERT_EQ(full.substr(full.size() - 10), "\"GET /#22\"");
  // Room for "#22" but not one more: haproxy stops before the escape.
  std::string cut = format_http_log(s, full.size() - 1);
  EXPECT_EQ(cut, full.substr(0, full.size() - 4));
  EXPECT_EQ(format_http_log(s, full.size() - 2), full.substr(0, full.size() - 4));
  EXPECT_EQ(format_http_log(s, full.size()), full);
}

// ---- option tcplog ----

SessionLog tcp(uint16_t port, LocalTime date, std::string fe, std::string be) {
  auto s = http(port, date, std::move(fe), std::move(be), "s1");
  s.actconn = 2;
  return s;
}

TEST(LogFormatTcp, Normal) {
  auto s = tcp(57098, at(26, 10, 36, 33, 889000), "fe_tcp", "be_tcp");
  s.t_queue = 1;
  s.t_connect = 0;
  s.t_total = 1;
  s.bytes_out = 190;
  EXPECT_EQ(format_tcp_log(s),
            "127.0.0.1:57098 [26/Nov/2026:10:36:33.889] fe_tcp be_tcp/s1 1/0/1 190 -- 2/1/0/0/0 "
            "0/0");
}

TEST(LogFormatTcp, EmptyConnectionWithoutDontlognull) {
  auto s = tcp(57104, at(26, 10, 36, 34, 191000), "fe_tcp", "be_tcp");
  s.t_queue = 1;
  s.t_connect = 0;
  s.t_total = 200;
  s.bytes_in = 0;
  EXPECT_EQ(format_tcp_log(s),
            "127.0.0.1:57104 [26/Nov/2026:10:36:34.191] fe_tcp be_tcp/s1 1/0/200 0 -- 2/1/0/0/0 "
            "0/0");
}

TEST(LogFormatTcp, ClientReset) {
  auto s = tcp(33096, at(26, 10, 37, 46, 606000), "fe_tcp", "be_tcpcd");
  s.actconn = 3;
  s.t_queue = 1;
  s.t_connect = 0;
  s.t_total = 501;
  s.bytes_out = 1043;
  s.termination = termination_state(SessionEnd::kClientAbort, TermPhase::kData);
  EXPECT_EQ(format_tcp_log(s),
            "127.0.0.1:33096 [26/Nov/2026:10:37:46.606] fe_tcp be_tcpcd/s1 1/0/501 1043 CD "
            "3/1/0/0/0 0/0");
}

TEST(LogFormatTcp, Refused) {
  auto s = tcp(57762, at(26, 10, 37, 47, 406000), "fe_tcpref", "be_tcpref");
  s.t_queue = 1;
  s.t_connect = kNotReached;
  s.t_total = 1001;
  s.retries = 1;
  s.termination = termination_state(SessionEnd::kServerRefused, TermPhase::kConnect);
  EXPECT_EQ(format_tcp_log(s),
            "127.0.0.1:57762 [26/Nov/2026:10:37:47.406] fe_tcpref be_tcpref/s1 1/-1/1001 0 SC "
            "2/1/0/0/1 0/0");
}

// ---- the default format, and which line a frontend emits ----

TEST(LogFormatConnect, DefaultFormat) {
  SessionLog s;
  s.client_ip = "127.0.0.1";
  s.client_port = 33316;
  s.frontend_ip = "127.0.0.1";
  s.frontend_port = 27009;
  s.frontend = "fe_default";
  EXPECT_EQ(format_connect_log(s, false),
            "Connect from 127.0.0.1:33316 to 127.0.0.1:27009 (fe_default/TCP)");
  s.client_port = 43980;
  s.frontend_port = 27010;
  s.frontend = "fe_defhttp";
  EXPECT_EQ(format_connect_log(s, true),
            "Connect from 127.0.0.1:43980 to 127.0.0.1:27010 (fe_defhttp/HTTP)");
  s.client_ip = s.frontend_ip = "::1";
  s.client_port = 35192;
  s.frontend_port = 27009;
  s.frontend = "fe_default";
  EXPECT_EQ(format_connect_log(s, false), "Connect from ::1:35192 to ::1:27009 (fe_default/TCP)");
}

TEST(LogFormatChoice, OptionsPickTheLine) {
  Proxy fe;
  EXPECT_EQ(line_format(fe), LineFormat::kConnect);
  fe.tcplog = true;
  EXPECT_EQ(line_format(fe), LineFormat::kTcp);
  fe.tcplog = false;
  fe.httplog = true;
  EXPECT_EQ(line_format(fe), LineFormat::kHttp);
}

// Captured: with dontlognull an empty connection made no line in TCP or HTTP mode, one with
// data did; without it, both did (the -- and CR-- lines above).
TEST(LogFormatChoice, Dontlognull) {
  Proxy fe;
  fe.tcplog = true;
  auto s = tcp(42782, at(26, 10, 36, 35, 193000), "fe_tcpnull", "be_tcp");
  s.t_queue = 1;
  s.t_connect = 0;
  s.t_total = 1;
  s.bytes_out = 190;
  EXPECT_TRUE(should_log_end(fe, s));
  fe.dontlognull = true;
  auto line = format_end_of_session(fe, s);
  ASSERT_TRUE(line);
  EXPECT_EQ(*line,
            "127.0.0.1:42782 [26/Nov/2026:10:36:35.193] fe_tcpnull be_tcp/s1 1/0/1 190 -- "
            "2/1/0/0/0 0/0");
  s.bytes_in = 0;
  EXPECT_FALSE(should_log_end(fe, s));
  EXPECT_FALSE(format_end_of_session(fe, s));
  fe.tcplog = false;
  fe.httplog = true;
  EXPECT_FALSE(format_end_of_session(fe, s));
  fe.dontlognull = false;
  EXPECT_TRUE(format_end_of_session(fe, s));
  // The default format logs at accept, never at the end.
  fe.httplog = false;
  EXPECT_FALSE(format_end_of_session(fe, s));
}

TEST(LogFormatChoice, TargetsOwnThenGlobal) {
  Global g;
  g.logs.resize(2);
  g.logs[0].path = "/dev/log";
  g.logs[1].path = "10.0.0.1";
  Proxy p;
  EXPECT_TRUE(log_targets(g, p).empty());
  p.logs.resize(1);
  p.logs[0].kind = LogTarget::Kind::kStdout;
  EXPECT_EQ(log_targets(g, p).size(), 1u);
  p.log_global = true;
  auto t = log_targets(g, p);
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].kind, LogTarget::Kind::kStdout);
  EXPECT_EQ(t[2].path, "10.0.0.1");
}

// ---- termination states ----

TEST(LogFormatTermination, Table) {
  struct Case {
    SessionEnd end;
    TermPhase phase;
    const char* tcp;
  };
  const Case cases[] = {
      {SessionEnd::kNormal, TermPhase::kData, "--"},
      {SessionEnd::kNormal, TermPhase::kNone, "--"},
      {SessionEnd::kClientAbort, TermPhase::kConnect, "CC"},
      {SessionEnd::kClientAbort, TermPhase::kData, "CD"},
      {SessionEnd::kClientAbort, TermPhase::kHeaders, "CH"},
      {SessionEnd::kClientAbort, TermPhase::kQueue, "CQ"},
      {SessionEnd::kClientAbort, TermPhase::kRequest, "CR"},
      {SessionEnd::kClientAbort, TermPhase::kTarpit, "CT"},
      {SessionEnd::kClientTimeout, TermPhase::kData, "cD"},
      {SessionEnd::kClientTimeout, TermPhase::kRequest, "cR"},
      {SessionEnd::kLocal, TermPhase::kRequest, "LR"},
      {SessionEnd::kServerRefused, TermPhase::kConnect, "SC"},
      {SessionEnd::kServerTimeout, TermPhase::kConnect, "sC"},
      {SessionEnd::kServerAbort, TermPhase::kData, "SD"},
      {SessionEnd::kServerTimeout, TermPhase::kData, "sD"},
      {SessionEnd::kServerAbort, TermPhase::kHeaders, "SH"},
      {SessionEnd::kServerTimeout, TermPhase::kHeaders, "sH"},
      {SessionEnd::kServerTimeout, TermPhase::kQueue, "sQ"},
      {SessionEnd::kDenied, TermPhase::kConnect, "PC"},
      {SessionEnd::kDenied, TermPhase::kHeaders, "PH"},
      {SessionEnd::kDenied, TermPhase::kRequest, "PR"},
      {SessionEnd::kDenied, TermPhase::kTarpit, "PT"},
      {SessionEnd::kResource, TermPhase::kConnect, "RC"},
      {SessionEnd::kInternal, TermPhase::kData, "ID"},
      {SessionEnd::kServerDown, TermPhase::kData, "DD"},
      {SessionEnd::kKilled, TermPhase::kData, "KD"},
  };
  for (const auto& c : cases) {
    auto t = termination_state(c.end, c.phase);
    EXPECT_EQ(t.tcp(), c.tcp);
    EXPECT_EQ(t.http(), std::string(c.tcp) + "--");
  }
}

// ---- syslog framing ----

const std::string kLine =
    "127.0.0.1:34298 [26/Nov/2026:10:36:28.972] fe_http be_ok/s1 0/0/0/3/3 200 185 - - ---- "
    "1/1/0/0/0 0/0 \"GET /index.html HTTP/1.1\"";

SyslogHeader header(Framing f, Facility fac, int usec = 0) {
  return SyslogHeader{.framing = f,
                      .facility = fac,
                      .level = Level::kInfo,
                      .now = at(26, 10, 36, 28, usec),
                      .tag = kDefaultTag,
                      .pid = 31517,
                      .hostname = {}};
}

// Each expected datagram is what the UDP (or unix) reader received from haproxy.
TEST(LogFormatSyslog, EveryFramingAsCaptured) {
  auto dgram = [](const SyslogHeader& h) { return frame(h, kLine, 1024, SinkKind::kSocket); };
  EXPECT_EQ(dgram(header(Framing::kLocal, Facility::kLocal0)),
            "<134>Nov 26 10:36:28 haproxy[31517]: " + kLine + "\n");
  EXPECT_EQ(dgram(header(Framing::kRfc3164, Facility::kLocal1)),
            "<142>Nov 26 10:36:28 localhost haproxy[31517]: " + kLine + "\n");
  EXPECT_EQ(dgram(header(Framing::kRfc5424, Facility::kLocal2, 976654)),
            "<150>1 2026-11-26T10:36:28.976654+00:00 - haproxy 31517 - - " + kLine + "\n");
  EXPECT_EQ(dgram(header(Framing::kShort, Facility::kLocal0)), "<6>" + kLine + "\n");
  EXPECT_EQ(dgram(header(Framing::kPriority, Facility::kDaemon)), "<30>" + kLine + "\n");
  EXPECT_EQ(dgram(header(Framing::kIso, Facility::kLocal0, 976676)),
            "2026-11-26T10:36:28.976676+00:00 " + kLine + "\n");
  EXPECT_EQ(dgram(header(Framing::kTimed, Facility::kLocal0, 976682)),
            "<6>2026-11-26T10:36:28.976682+00:00 " + kLine + "\n");
  EXPECT_EQ(dgram(header(Framing::kLocal, Facility::kLocal7)),
            "<190>Nov 26 10:36:28 haproxy[31517]: " + kLine + "\n");
  EXPECT_EQ(dgram(header(Framing::kLocal, Facility::kLocal3)),  // the unix socket target
            "<158>Nov 26 10:36:28 haproxy[31517]: " + kLine + "\n");
  EXPECT_EQ(frame(header(Framing::kRaw, Facility::kLocal0), kLine, 1024, SinkKind::kStream),
            kLine + "\n");
}

TEST(LogFormatSyslog, PriorityForEveryFacilityAndLevel) {
  const char* facilities[] = {"kern",   "user",   "mail",   "daemon", "auth",   "syslog",
                              "lpr",    "news",   "uucp",   "cron",   "auth2",  "ftp",
                              "ntp",    "audit",  "alert",  "cron2",  "local0", "local1",
                              "local2", "local3", "local4", "local5", "local6", "local7"};
  const char* levels[] = {"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"};
  for (int f = 0; f < 24; ++f) {
    auto fac = facility_from_name(facilities[f]);
    ASSERT_TRUE(fac) << facilities[f];
    for (int l = 0; l < 8; ++l) {
      auto lvl = level_from_name(levels[l]);
      ASSERT_TRUE(lvl);
      SyslogHeader h = header(Framing::kLocal, *fac);
      h.level = *lvl;
      EXPECT_EQ(syslog_header(h),
                "<" + std::to_string(f * 8 + l) + ">Nov 26 10:36:28 haproxy[31517]: ");
      h.framing = Framing::kShort;  // the facility is ignored
      EXPECT_EQ(syslog_header(h), "<" + std::to_string(l) + ">");
    }
  }
  EXPECT_FALSE(facility_from_name("local8"));
  EXPECT_FALSE(level_from_name("warn"));
}

TEST(LogFormatSyslog, FramingNames) {
  EXPECT_EQ(framing_from_name("local"), Framing::kLocal);
  EXPECT_EQ(framing_from_name("rfc3164"), Framing::kRfc3164);
  EXPECT_EQ(framing_from_name("rfc5424"), Framing::kRfc5424);
  EXPECT_EQ(framing_from_name("priority"), Framing::kPriority);
  EXPECT_EQ(framing_from_name("short"), Framing::kShort);
  EXPECT_EQ(framing_from_name("timed"), Framing::kTimed);
  EXPECT_EQ(framing_from_name("iso"), Framing::kIso);
  EXPECT_EQ(framing_from_name("raw"), Framing::kRaw);
  EXPECT_FALSE(framing_from_name("json"));
}

TEST(LogFormatSyslog, SingleDigitDayIsSpacePadded) {
  SyslogHeader h = header(Framing::kLocal, Facility::kLocal0);
  h.now = at(6, 9, 5, 3, 0, 2);
  EXPECT_EQ(syslog_header(h), "<134>Feb  6 09:05:03 haproxy[31517]: ");
  EXPECT_EQ(format_log_date(h.now), "06/Feb/2026:09:05:03.000");
}

TEST(LogFormatSyslog, TagHostnameAndOffset) {
  SyslogHeader h = header(Framing::kRfc3164, Facility::kLocal0);
  h.tag = "tandem-lb";
  h.hostname = "lb1";
  EXPECT_EQ(syslog_header(h), "<134>Nov 26 10:36:28 lb1 tandem-lb[31517]: ");
  h.framing = Framing::kRfc5424;
  h.now.utc_offset_minutes = -(5 * 60 + 30);
  EXPECT_EQ(syslog_header(h), "<134>1 2026-11-26T10:36:28.000000-05:30 lb1 tandem-lb 31517 - - ");
  h.framing = Framing::kLocal;
  h.tag = "";
  EXPECT_EQ(syslog_header(h), "<134>Nov 26 10:36:28 ");
}

// The 3000-byte request: 1025-byte datagrams with `len 1024` (header + 987 + "\n" for the
// local framing), 201 with `len 200`; the raw stdout line was 1023 + "\n".
TEST(LogFormatSyslog, LengthLimits) {
  auto s = http(52498, at(26, 10, 36, 37, 401000), "fe_http", "be_ok", "s1");
  timers(s, 0, 0, 0, 1, 1);
  s.status = 404;
  s.bytes_out = 500;
  s.request_line = "GET /" + std::string(3000, 'a') + " HTTP/1.1";
  const std::string line = format_http_log(s);
  SyslogHeader h = header(Framing::kLocal, Facility::kLocal0);
  h.now = at(26, 10, 36, 37, 0);
  const std::string hdr = "<134>Nov 26 10:36:37 haproxy[31517]: ";

  std::string d = frame(h, line, 1024, SinkKind::kSocket);
  EXPECT_EQ(d.size(), 1025u);
  EXPECT_EQ(d, hdr + line.substr(0, 1024 - hdr.size()) + "\n");

  d = frame(h, line, 200, SinkKind::kSocket);
  EXPECT_EQ(d,
            "<134>Nov 26 10:36:37 haproxy[31517]: 127.0.0.1:52498 [26/Nov/2026:10:36:37.401] "
            "fe_http be_ok/s1 0/0/0/1/1 404 500 - - ---- 1/1/0/0/0 0/0 \"GET /" +
                std::string(56, 'a') + "\n");

  h.framing = Framing::kRfc5424;
  h.now.usec = 403027;
  d = frame(h, line, 1024, SinkKind::kSocket);
  EXPECT_EQ(d.size(), 1025u);
  EXPECT_EQ(d.substr(0, 60), "<134>1 2026-11-26T10:36:37.403027+00:00 - haproxy 31517 - - ");

  h.framing = Framing::kRaw;
  d = frame(h, line, 1024, SinkKind::kStream);
  EXPECT_EQ(d, line + "\n");
  EXPECT_EQ(d.size(), 1024u);

  // A header longer than the limit is cut too, and the message trailing newline is dropped.
  h.framing = Framing::kLocal;
  EXPECT_EQ(frame(h, "x", 10, SinkKind::kSocket), hdr.substr(0, 10) + "\n");
  h.framing = Framing::kRaw;
  EXPECT_EQ(frame(h, "abc\n", 80, SinkKind::kSocket), "abc\n");
}

TEST(LogFormatSyslog, TargetLevels) {
  // `log ADDR local0 info notice`: debug is dropped, info passes, emerg is lowered to notice.
  EXPECT_FALSE(level_for_target(Level::kDebug, Level::kInfo, Level::kNotice));
  EXPECT_EQ(level_for_target(Level::kInfo, Level::kInfo, Level::kNotice), Level::kInfo);
  EXPECT_EQ(level_for_target(Level::kEmerg, Level::kInfo, Level::kNotice), Level::kNotice);
  EXPECT_EQ(level_for_target(Level::kInfo, Level::kDebug, Level::kEmerg), Level::kInfo);
  EXPECT_FALSE(level_for_target(Level::kInfo, Level::kNotice, Level::kEmerg));
}

TEST(LogFormatSyslog, LocalTimeFromSystemClock) {
  using namespace std::chrono;
  // 2026-11-26 10:36:28.976654 UTC; the test checks the fields that do not depend on TZ.
  auto t = system_clock::time_point(seconds(1795689388) + microseconds(976654));
  LocalTime lt = to_local_time(t);
  EXPECT_EQ(lt.usec, 976654);
  EXPECT_EQ(lt.second, 28);
}

}  // namespace
}  // namespace tandem::lb::logfmt

namespace tandem::lb::logfmt {
namespace {

using std::chrono::milliseconds;

struct Timers {
  int64_t tr, tw, tc, tres, ta, tt;
  bool operator==(const Timers&) const = default;
};
Timers http_of(const SessionTimes& t) {
  SessionLog s;
  set_http_timers(s, t);
  return {s.t_request, s.t_queue, s.t_connect, s.t_response, s.t_active, s.t_total};
}
std::string tcp_of(const SessionTimes& t) {
  SessionLog s;
  set_tcp_timers(s, t);
  return std::to_string(s.t_queue) + "/" + std::to_string(s.t_connect) + "/" +
         std::to_string(s.t_total);
}

const core::TimePoint kA = core::TimePoint(std::chrono::seconds(5000));

TEST(LogFormatTimers, HttpAsCaptured) {
  SessionTimes ok{.accept = kA,
                  .request_start = kA,
                  .request_complete = kA,
                  .queue_left = kA,
                  .connected = kA,
                  .response_headers = kA + milliseconds(3),
                  .closed = kA + milliseconds(3)};
  EXPECT_EQ(http_of(ok), (Timers{0, 0, 0, 3, 3, 3}));  // 0/0/0/3/3

  SessionTimes sh = ok;  // timeout server before the headers: 0/0/0/-1/302
  sh.response_headers.reset();
  sh.closed = kA + milliseconds(302);
  EXPECT_EQ(http_of(sh), (Timers{0, 0, 0, -1, 302, 302}));

  SessionTimes nosrv{.accept = kA, .request_start = kA, .request_complete = kA, .closed = kA};
  EXPECT_EQ(http_of(nosrv), (Timers{0, -1, -1, -1, 0, 0}));  // 0/-1/-1/-1/0

  SessionTimes refused = nosrv;  // 0/0/-1/-1/2003
  refused.queue_left = kA;
  refused.closed = kA + milliseconds(2003);
  EXPECT_EQ(http_of(refused), (Timers{0, 0, -1, -1, 2003, 2003}));

  SessionTimes empty{.accept = kA, .closed = kA + milliseconds(200)};  // -1/-1/-1/-1/200
  EXPECT_EQ(http_of(empty), (Timers{-1, -1, -1, -1, 200, 200}));
}

TEST(LogFormatTimers, HttpManualExampleAndKeepAliveIdle) {
  // The manual's 10/0/30/69/109, then the same request after 5 s of keep-alive idle time:
  // TR and Ta start at the request's first byte, Tt at the accept.
  for (int idle : {0, 5000}) {
    auto s0 = kA + milliseconds(idle);
    SessionTimes t{.accept = kA,
                   .request_start = s0,
                   .request_complete = s0 + milliseconds(10),
                   .queue_left = s0 + milliseconds(10),
                   .connected = s0 + milliseconds(40),
                   .response_headers = s0 + milliseconds(109),
                   .closed = s0 + milliseconds(109)};
    EXPECT_EQ(http_of(t), (Timers{10, 0, 30, 69, 109, 109 + idle}));
  }
}

TEST(LogFormatTimers, TcpQueueTimePlusOne) {
  // Captured "1/0/1", "1/0/501" and "1/-1/1001": haproxy's Tw in TCP is queue time + 1.
  SessionTimes t{.accept = kA, .queue_left = kA, .connected = kA, .closed = kA + milliseconds(1)};
  EXPECT_EQ(tcp_of(t), "1/0/1");
  t.connected.reset();
  t.closed = kA + milliseconds(1001);
  EXPECT_EQ(tcp_of(t), "1/-1/1001");
  t.queue_left.reset();
  EXPECT_EQ(tcp_of(t), "-1/-1/1001");
  SessionTimes queued{.accept = kA,
                      .queue_left = kA + milliseconds(250),
                      .connected = kA + milliseconds(252),
                      .closed = kA + milliseconds(5007)};
  EXPECT_EQ(tcp_of(queued), "251/2/5007");
}

}  // namespace
}  // namespace tandem::lb::logfmt

namespace tandem::lb::logfmt {
namespace {

// `option httplog clf`, captured (each line ends with a space).
TEST(LogFormatClf, AsCaptured) {
  SessionLog s;
  s.client_ip = "127.0.0.1";
  s.client_port = 56358;
  s.date = LocalTime{
      .year = 2026, .month = 11, .day = 26, .hour = 10, .minute = 44, .second = 20, .usec = 177000};
  s.frontend = "fe_clf";
  s.backend = "be_ok";
  s.server = "s1";
  s.t_request = s.t_queue = s.t_connect = 0;
  s.t_response = s.t_active = 3;
  s.status = 200;
  s.bytes_out = 185;
  s.actconn = s.feconn = 1;
  s.request_line = "GET /index.html HTTP/1.1";
  EXPECT_EQ(format_http_log_clf(s),
            "127.0.0.1 - - [26/Nov/2026:10:44:20 +0000] \"GET /index.html HTTP/1.1\" 200 185 \"\" "
            "\"\" 56358 177 \"fe_clf\" \"be_ok\" \"s1\" 0 0 0 3 3 ---- 1 1 0 0 0 0 0 \"\" \"\" ");

  s.client_port = 55048;
  s.date.usec = 384000;
  s.frontend = "fe_nosrv";
  s.backend = "be_nosrv";
  s.server = "";
  s.t_queue = s.t_connect = s.t_response = kNotReached;
  s.t_active = 0;
  s.status = 503;
  s.bytes_out = 217;
  s.termination = termination_state(SessionEnd::kServerRefused, TermPhase::kConnect);
  s.request_line = "GET / HTTP/1.1";
  EXPECT_EQ(format_http_log_clf(s),
            "127.0.0.1 - - [26/Nov/2026:10:44:20 +0000] \"GET / HTTP/1.1\" 503 217 \"\" \"\" 55048 "
            "384 \"fe_nosrv\" \"be_nosrv\" \"<NOSRV>\" 0 -1 -1 -1 0 SC-- 1 1 0 0 0 0 0 \"\" \"\" ");

  s.client_port = 56374;
  s.date.usec = 785000;
  s.frontend = s.backend = "fe_clf";
  s.t_request = kNotReached;
  s.status = 400;
  s.bytes_out = 0;
  s.termination = termination_state(SessionEnd::kClientAbort, TermPhase::kRequest);
  s.request_line.reset();
  EXPECT_EQ(format_http_log_clf(s),
            "127.0.0.1 - - [26/Nov/2026:10:44:20 +0000] \"<BADREQ>\" 400 0 \"\" \"\" 56374 785 "
            "\"fe_clf\" \"fe_clf\" \"<NOSRV>\" -1 -1 -1 -1 0 CR-- 1 1 0 0 0 0 0 \"\" \"\" ");
}

TEST(LogFormatClf, GmtDateAcrossMidnightAndYear) {
  LocalTime t{.year = 2027,
              .month = 1,
              .day = 1,
              .hour = 1,
              .minute = 30,
              .second = 5,
              .usec = 0,
              .utc_offset_minutes = 120};
  EXPECT_EQ(format_gmt_log_date(t), "31/Dec/2026:23:30:05 +0000");
  t.utc_offset_minutes = -300;
  EXPECT_EQ(format_gmt_log_date(t), "01/Jan/2027:06:30:05 +0000");
}

}  // namespace
}  // namespace tandem::lb::logfmt
