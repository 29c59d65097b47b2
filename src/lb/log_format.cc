// haproxy-compatible traffic log lines and syslog framing; see log_format.h.
#include "lb/log_format.h"

#include <time.h>

#include <algorithm>
#include <array>
#include <cstdio>

#include "lb/config.h"

namespace tandem::lb::logfmt {
namespace {

constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::array<std::string_view, 24> kFacilities = {
    "kern",   "user",   "mail",   "daemon", "auth",   "syslog", "lpr",    "news",
    "uucp",   "cron",   "auth2",  "ftp",    "ntp",    "audit",  "alert",  "cron2",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"};
constexpr std::array<std::string_view, 8> kLevels = {"emerg",   "alert",  "crit", "err",
                                                     "warning", "notice", "info", "debug"};
constexpr std::array<std::string_view, 8> kFramings = {"local", "rfc3164", "rfc5424", "priority",
                                                       "short", "timed",   "iso",     "raw"};

std::string_view month_name(int month) {
  return kMonths[static_cast<size_t>((month + 11) % 12)];
}

// Writes a line into at most `max` characters with the truncation rules of haproxy's
// sess_build_logline(): once something does not fit, nothing more is written.
class LineWriter {
 public:
  explicit LineWriter(size_t max) : max_(max) { out_.reserve(std::min<size_t>(max, 256)); }

  // LOGCHAR(): one character while there is room.
  void ch(char c) {
    if (stopped_) return;
    if (out_.size() >= max_) {
      stopped_ = true;
      return;
    }
    out_.push_back(c);
  }
  // ltoa_o() and friends: a number is written whole or not at all.
  void atom(std::string_view s) {
    if (stopped_) return;
    if (s.size() > room()) {
      stopped_ = true;
      return;
    }
    out_.append(s);
  }
  void num(int64_t v) { atom(std::to_string(v)); }
  void unum(uint64_t v) { atom(std::to_string(v)); }
  // strlcpy2() / lf_text(): names are copied as far as they fit.
  void text(std::string_view s) {
    if (stopped_) return;
    size_t n = std::min(s.size(), room());
    out_.append(s.substr(0, n));
    if (n < s.size()) stopped_ = true;
  }
  // lf_encode_string() with url_encode_map: an escape is written only with at least four
  // characters of room left (haproxy tests start + 3 >= stop), else the line ends there.
  void escaped(std::string_view s) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (char c : s) {
      if (stopped_) return;
      auto u = static_cast<unsigned char>(c);
      if (u >= 32 && u < 127 && c != '"' && c != '#') {
        ch(c);
      } else if (room() > 3) {
        out_.push_back('#');
        out_.push_back(kHex[u >> 4]);
        out_.push_back(kHex[u & 15]);
      } else {
        stopped_ = true;
      }
    }
  }
  std::string take() && { return std::move(out_); }

 private:
  size_t room() const { return max_ - out_.size(); }
  size_t max_;
  bool stopped_ = false;
  std::string out_;
};

void client_and_date(LineWriter& w, const SessionLog& s) {
  w.text(s.client_ip);
  w.ch(':');
  w.unum(s.client_port);
  w.ch(' ');
  w.ch('[');
  w.text(format_log_date(s.date));
  w.ch(']');
  w.ch(' ');
  w.text(s.frontend);
  if (s.frontend_tls) w.ch('~');
  w.ch(' ');
  w.text(s.backend);
  w.ch('/');
  w.text(s.server.empty() ? std::string_view("<NOSRV>") : std::string_view(s.server));
  w.ch(' ');
}

void counters(LineWriter& w, const SessionLog& s) {
  w.unum(s.actconn);
  w.ch('/');
  w.unum(s.feconn);
  w.ch('/');
  w.unum(s.beconn);
  w.ch('/');
  w.unum(s.srv_conn);
  w.ch('/');
  if (s.redispatched) w.ch('+');
  w.unum(s.retries);
  w.ch(' ');
  w.unum(s.srv_queue);
  w.ch('/');
  w.unum(s.backend_queue);
}

// "2026-11-26T10:36:28.976654+00:00", haproxy's timeofday_as_iso_us().
std::string iso_time(const LocalTime& t) {
  char b[64];
  int off = t.utc_offset_minutes;
  char sign = off < 0 ? '-' : '+';
  off = off < 0 ? -off : off;
  std::snprintf(b, sizeof b, "%04d-%02d-%02dT%02d:%02d:%02d.%06d%c%02d:%02d", t.year, t.month,
                t.day, t.hour, t.minute, t.second, t.usec, sign, off / 60, off % 60);
  return b;
}

}  // namespace

LocalTime to_local_time(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  auto us = duration_cast<microseconds>(t.time_since_epoch()).count();
  time_t secs = static_cast<time_t>(us / 1000000);
  int usec = static_cast<int>(us % 1000000);
  if (usec < 0) {
    usec += 1000000;
    --secs;
  }
  struct tm tm {};
  localtime_r(&secs, &tm);
  return LocalTime{.year = tm.tm_year + 1900,
                   .month = tm.tm_mon + 1,
                   .day = tm.tm_mday,
                   .hour = tm.tm_hour,
                   .minute = tm.tm_min,
                   .second = tm.tm_sec,
                   .usec = usec,
                   .utc_offset_minutes = static_cast<int>(tm.tm_gmtoff / 60)};
}

std::string format_log_date(const LocalTime& t) {
  char b[64];
  std::snprintf(b, sizeof b, "%02d/%s/%04d:%02d:%02d:%02d.%03d", t.day,
                std::string(month_name(t.month)).c_str(), t.year, t.hour, t.minute, t.second,
                t.usec / 1000);
  return b;
}

std::string TerminationState::tcp() const {
  return {static_cast<char>(cause), static_cast<char>(phase)};
}

std::string TerminationState::http() const {
  return {static_cast<char>(cause), static_cast<char>(phase), request_cookie, response_cookie};
}

TerminationState termination_state(SessionEnd end, TermPhase phase) {
  TermCause cause = TermCause::kNone;
  switch (end) {
    case SessionEnd::kNormal:
      return {};  // haproxy prints "--" whatever the phase
    case SessionEnd::kClientAbort:
      cause = TermCause::kClientAbort;
      break;
    case SessionEnd::kClientTimeout:
      cause = TermCause::kClientTimeout;
      break;
    case SessionEnd::kServerRefused:
    case SessionEnd::kServerAbort:
      cause = TermCause::kServerError;
      break;
    case SessionEnd::kServerTimeout:
      cause = TermCause::kServerTimeout;
      break;
    case SessionEnd::kDenied:
      cause = TermCause::kProxy;
      break;
    case SessionEnd::kLocal:
      cause = TermCause::kLocal;
      break;
    case SessionEnd::kResource:
      cause = TermCause::kResource;
      break;
    case SessionEnd::kInternal:
      cause = TermCause::kInternal;
      break;
    case SessionEnd::kServerDown:
      cause = TermCause::kDown;
      break;
    case SessionEnd::kKilled:
      cause = TermCause::kKilled;
      break;
  }
  return {.cause = cause, .phase = phase};
}

namespace {

// Milliseconds from accept to an event, or -1 when it did not happen (haproxy's logs->t_*).
int64_t since_accept(const SessionTimes& t, const std::optional<core::TimePoint>& at) {
  if (!at) return -1;
  return std::chrono::duration_cast<std::chrono::milliseconds>(*at - t.accept).count();
}

// haproxy's %Tw and %Tc: a difference when the later event happened, else -1.
int64_t after(int64_t later, int64_t earlier) {
  return later >= 0 ? later - earlier : -1;
}

}  // namespace

void set_http_timers(SessionLog& s, const SessionTimes& t) {
  const int64_t start = since_accept(t, t.request_start);
  const int64_t offset = start >= 0 ? start : 0;  // Th + Ti
  const int64_t request = since_accept(t, t.request_complete);
  const int64_t queue = since_accept(t, t.queue_left);
  const int64_t connect = since_accept(t, t.connected);
  const int64_t data = since_accept(t, t.response_headers);
  const int64_t close = since_accept(t, t.closed);
  s.t_request = request >= 0 ? request - offset : -1;
  s.t_queue = after(queue, request);
  s.t_connect = after(connect, queue);
  s.t_response = after(data, connect);
  s.t_active = close - offset;
  s.t_total = close;
}

void set_tcp_timers(SessionLog& s, const SessionTimes& t) {
  const int64_t queue = since_accept(t, t.queue_left);
  const int64_t connect = since_accept(t, t.connected);
  s.t_request = kNotReached;
  s.t_queue = after(queue, -1);  // no request event in TCP: haproxy subtracts -1
  s.t_connect = after(connect, queue);
  s.t_response = kNotReached;
  s.t_total = since_accept(t, t.closed);
  s.t_active = s.t_total;
}

std::string escape_request_line(std::string_view line) {
  LineWriter w(line.size() * 3 + 4);
  w.escaped(line);
  return std::move(w).take();
}

std::string format_http_log(const SessionLog& s, size_t max_line) {
  LineWriter w(max_line);
  client_and_date(w, s);
  w.num(s.t_request);
  w.ch('/');
  w.num(s.t_queue);
  w.ch('/');
  w.num(s.t_connect);
  w.ch('/');
  w.num(s.t_response);
  w.ch('/');
  w.num(s.t_active);
  w.ch(' ');
  w.num(s.status);
  w.ch(' ');
  w.unum(s.bytes_out);
  w.ch(' ');
  w.ch('-');  // %CC and %CS: no cookie capture
  w.ch(' ');
  w.ch('-');
  w.ch(' ');
  w.atom(s.termination.http());
  w.ch(' ');
  counters(w, s);
  // %hr and %hs print nothing without captures, and their separators collapse.
  w.ch(' ');
  w.ch('"');
  if (s.request_line) {
    std::string_view rl = *s.request_line;
    w.escaped(rl.substr(0, std::min(rl.size(), kRequestLineCapture)));
  } else {
    w.text("<BADREQ>");
  }
  w.ch('"');
  return std::move(w).take();
}

std::string format_gmt_log_date(const LocalTime& t) {
  using namespace std::chrono;
  const sys_days day = year_month_day{year{t.year}, month{static_cast<unsigned>(t.month)},
                                      std::chrono::day{static_cast<unsigned>(t.day)}};
  const sys_seconds local = day + hours{t.hour} + minutes{t.minute} + seconds{t.second};
  const sys_seconds utc = local - minutes{t.utc_offset_minutes};
  const sys_days utc_day = floor<days>(utc);
  const year_month_day ymd{utc_day};
  const hh_mm_ss hms{utc - utc_day};
  char b[64];
  std::snprintf(b, sizeof b, "%02u/%s/%04d:%02d:%02d:%02d +0000", unsigned(ymd.day()),
                std::string(month_name(static_cast<int>(unsigned(ymd.month())))).c_str(),
                int(ymd.year()), static_cast<int>(hms.hours().count()),
                static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()));
  return b;
}

std::string format_http_log_clf(const SessionLog& s, size_t max_line) {
  LineWriter w(max_line);
  auto quoted = [&w](std::string_view v) {
    w.ch('"');
    w.text(v);
    w.ch('"');
  };
  auto field = [&w](int64_t v) {
    w.num(v);
    w.ch(' ');
  };
  w.text(s.client_ip);
  w.text(" - - [");
  w.text(format_gmt_log_date(s.date));
  w.text("] ");
  w.ch('"');
  if (s.request_line) {
    std::string_view rl = *s.request_line;
    w.escaped(rl.substr(0, std::min(rl.size(), kRequestLineCapture)));
  } else {
    w.text("<BADREQ>");
  }
  w.ch('"');
  w.ch(' ');
  field(s.status);
  w.unum(s.bytes_out);
  w.text(" \"\" \"\" ");
  w.unum(s.client_port);
  w.ch(' ');
  char ms[8];
  std::snprintf(ms, sizeof ms, "%03d", (s.date.usec / 1000) % 1000);
  w.atom(ms);
  w.ch(' ');
  w.ch('"');
  w.text(s.frontend);
  if (s.frontend_tls) w.ch('~');
  w.ch('"');
  w.ch(' ');
  quoted(s.backend);
  w.ch(' ');
  quoted(s.server.empty() ? std::string_view("<NOSRV>") : std::string_view(s.server));
  w.ch(' ');
  field(s.t_request);
  field(s.t_queue);
  field(s.t_connect);
  field(s.t_response);
  field(s.t_active);
  w.atom(s.termination.http());
  w.ch(' ');
  field(s.actconn);
  field(s.feconn);
  field(s.beconn);
  field(s.srv_conn);
  if (s.redispatched) w.ch('+');
  field(s.retries);
  field(s.srv_queue);
  field(s.backend_queue);
  w.text("\"\" \"\" ");  // %CC %CS quoted and empty; %hrl %hsl print nothing
  return std::move(w).take();
}

std::string format_tcp_log(const SessionLog& s, size_t max_line) {
  LineWriter w(max_line);
  client_and_date(w, s);
  w.num(s.t_queue);
  w.ch('/');
  w.num(s.t_connect);
  w.ch('/');
  w.num(s.t_total);
  w.ch(' ');
  w.unum(s.bytes_out);
  w.ch(' ');
  w.atom(s.termination.tcp());
  w.ch(' ');
  counters(w, s);
  return std::move(w).take();
}

std::string format_connect_log(const SessionLog& s, bool http_mode, size_t max_line) {
  std::string line = "Connect from " + s.client_ip + ":" + std::to_string(s.client_port) + " to " +
                     s.frontend_ip + ":" + std::to_string(s.frontend_port) + " (" + s.frontend +
                     "/" + (http_mode ? "HTTP" : "TCP") + ")";
  if (line.size() > max_line) line.resize(max_line);
  return line;
}

LineFormat line_format(const Proxy& frontend) {
  if (frontend.httplog) return LineFormat::kHttp;
  if (frontend.tcplog) return LineFormat::kTcp;
  return LineFormat::kConnect;
}

bool should_log_end(const Proxy& frontend, const SessionLog& s) {
  if (line_format(frontend) == LineFormat::kConnect) return false;
  return !(frontend.dontlognull && s.bytes_in == 0);
}

std::vector<LogTarget> log_targets(const Global& global, const Proxy& proxy) {
  std::vector<LogTarget> out = proxy.logs;
  if (proxy.log_global) out.insert(out.end(), global.logs.begin(), global.logs.end());
  return out;
}

std::optional<std::string> format_end_of_session(const Proxy& frontend, const SessionLog& s,
                                                 size_t max_line) {
  if (!should_log_end(frontend, s)) return std::nullopt;
  if (line_format(frontend) == LineFormat::kHttp) return format_http_log(s, max_line);
  return format_tcp_log(s, max_line);
}

std::optional<Facility> facility_from_name(std::string_view name) {
  for (size_t i = 0; i < kFacilities.size(); ++i)
    if (kFacilities[i] == name) return static_cast<Facility>(i);
  return std::nullopt;
}

std::optional<Level> level_from_name(std::string_view name) {
  for (size_t i = 0; i < kLevels.size(); ++i)
    if (kLevels[i] == name) return static_cast<Level>(i);
  return std::nullopt;
}

std::optional<Framing> framing_from_name(std::string_view name) {
  for (size_t i = 0; i < kFramings.size(); ++i)
    if (kFramings[i] == name) return static_cast<Framing>(i);
  return std::nullopt;
}

std::optional<Level> level_for_target(Level message, Level target_max, Level target_min) {
  if (message > target_max) return std::nullopt;
  return std::max(message, target_min);  // a smaller number is more severe
}

std::string syslog_header(const SyslogHeader& h) {
  const int level = static_cast<int>(h.level);
  const int prival = static_cast<int>(h.facility) * 8 + level;
  std::string out;
  switch (h.framing) {
    case Framing::kLocal:
    case Framing::kRfc3164: {
      char b[64];
      std::snprintf(b, sizeof b, "<%d>%s %2d %02d:%02d:%02d ", prival,
                    std::string(month_name(h.now.month)).c_str(), h.now.day, h.now.hour,
                    h.now.minute, h.now.second);
      out = b;
      if (h.framing == Framing::kRfc3164) {
        out += h.hostname.empty() ? std::string_view("localhost") : h.hostname;
        out += ' ';
      }
      if (!h.tag.empty()) {  // haproxy leaves out tag and pid together
        out += h.tag;
        out += '[' + std::to_string(h.pid) + "]: ";
      }
      break;
    }
    case Framing::kRfc5424:
      out = "<" + std::to_string(prival) + ">1 " + iso_time(h.now) + ' ';
      out += h.hostname.empty() ? std::string_view("-") : h.hostname;
      out += ' ';
      out += h.tag.empty() ? std::string_view("-") : h.tag;
      out += ' ' + std::to_string(h.pid) + " - - ";  // no MSGID, no structured data
      break;
    case Framing::kPriority:
      out = "<" + std::to_string(prival) + ">";
      break;
    case Framing::kShort:
      out = "<" + std::to_string(level) + ">";
      break;
    case Framing::kTimed:
      out = "<" + std::to_string(level) + ">" + iso_time(h.now) + ' ';
      break;
    case Framing::kIso:
      out = iso_time(h.now) + ' ';
      break;
    case Framing::kRaw:
      break;
  }
  return out;
}

std::string frame(const SyslogHeader& h, std::string_view message, size_t max_length,
                  SinkKind kind) {
  // haproxy drops trailing newlines and NULs before adding its own newline.
  while (!message.empty() && (message.back() == '\n' || message.back() == '\0'))
    message.remove_suffix(1);
  size_t limit = max_length;
  if (kind == SinkKind::kStream && limit > 0) --limit;  // fd_write_frag_line keeps one
  std::string out = syslog_header(h);
  if (out.size() > limit) {
    out.resize(limit);
  } else {
    out.append(message.substr(0, limit - out.size()));
  }
  out.push_back('\n');
  return out;
}

}  // namespace tandem::lb::logfmt
