// haproxy-compatible traffic log lines (option httplog, option tcplog, the "Connect from"
// default) and syslog framing, as pure functions from a finished session's facts to text.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"

namespace tandem::lb {

struct Global;
struct LogTarget;
struct Proxy;

namespace logfmt {

// haproxy builds a line in a buffer of global.max_syslog_len (1024 unless a `log ... len N`
// is larger) and keeps one byte for the NUL: a line has at most 1023 characters.
inline constexpr size_t kDefaultMaxLine = 1023;
// tune.http.logurilen (1024) less the NUL: the longest request line kept for the log.
inline constexpr size_t kRequestLineCapture = 1023;
// The syslog tag. haproxy uses its argv[0]; we keep "haproxy" so that filters such as
// Debian's /etc/rsyslog.d/49-haproxy.conf (`:programname, startswith, "haproxy"`) still
// route our lines. The haproxy.cfg grammar has no `log-tag` yet; pass another tag here.
inline constexpr std::string_view kDefaultTag = "haproxy";

// A wall-clock instant in local time, broken down the way haproxy prints dates.
struct LocalTime {
  int year = 1970;
  int month = 1;  // 1..12
  int day = 1;    // 1..31
  int hour = 0;
  int minute = 0;
  int second = 0;
  int usec = 0;                // 0..999999
  int utc_offset_minutes = 0;  // local time minus UTC, for ISO timestamps
};

// Breaks down with localtime_r (the process's TZ), as haproxy's get_localtime().
LocalTime to_local_time(std::chrono::system_clock::time_point t);

// "26/Nov/2026:10:36:28.972": the accept or request date in brackets in both formats.
std::string format_log_date(const LocalTime& t);

// ---- termination state (section 8.5 of haproxy's configuration manual) ----

// First character: what ended the session.
enum class TermCause : char {
  kNone = '-',           // normal completion
  kLocal = 'L',          // handled by the proxy itself (stats, redirect, return)
  kClientTimeout = 'c',  // timeout client / http-request
  kClientAbort = 'C',    // client closed or reset
  kServerTimeout = 's',  // timeout server / connect / queue
  kServerError = 'S',    // server refused, reset or closed; also no server available
  kProxy = 'P',          // denied, invalid message, limit enforced by the proxy
  kResource = 'R',       // out of sockets, memory, source ports
  kInternal = 'I',       // a bug caught by a self-check
  kDown = 'D',           // killed because the server went down (on-marked-down)
  kKilled = 'K',         // killed by an administrator
  kUp = 'U',             // killed on a backup server because an active one came up
};

// Second character: where the session was when it ended.
enum class TermPhase : char {
  kNone = '-',     // after the end of the data transfer
  kRequest = 'R',  // waiting for a complete request (HTTP)
  kQueue = 'Q',    // waiting in a queue for a connection slot
  kConnect = 'C',  // connecting to the server
  kHeaders = 'H',  // waiting for the response headers (HTTP)
  kData = 'D',     // data phase
  kLast = 'L',     // sending the last data to the client
  kTarpit = 'T',   // tarpitted
};

struct TerminationState {
  TermCause cause = TermCause::kNone;
  TermPhase phase = TermPhase::kNone;
  // Persistence cookie flags (3rd and 4th characters): '-' while cookies are unsupported.
  char request_cookie = '-';
  char response_cookie = '-';

  std::string tcp() const;   // "SC"
  std::string http() const;  // "SC--"
  bool operator==(const TerminationState&) const = default;
};

// How a session ended, as the data path knows it; termination_state() maps it to the flags
// haproxy would print. Chosen to cover the common combinations of section 8.5.
enum class SessionEnd : uint8_t {
  kNormal,         // "--": both sides closed with nothing pending
  kClientAbort,    // C: client closed or reset before the end
  kClientTimeout,  // c: timeout client (or http-request while reading the request)
  kServerRefused,  // SC: connection refused / unreachable, or no server available
  kServerAbort,    // S: server closed or reset before the end
  kServerTimeout,  // s: timeout server (H, D) or timeout connect (C) or queue (Q)
  kDenied,         // P: request denied or invalid, response blocked
  kLocal,          // L: answered by the proxy (stats page, redirect, return)
  kResource,       // R
  kInternal,       // I
  kServerDown,     // D
  kKilled,         // K
};
TerminationState termination_state(SessionEnd end, TermPhase phase);

// ---- the facts of one finished session or HTTP request ----

inline constexpr int64_t kNotReached = -1;  // a timer whose event never happened

struct SessionLog {
  std::string client_ip;  // "127.0.0.1", "::1" (no brackets, as haproxy prints it)
  uint16_t client_port = 0;
  std::string frontend_ip;  // the address the client connected to (default format only)
  uint16_t frontend_port = 0;
  // TCP: the accept date (%t); HTTP: when the request's first byte came (%tr).
  LocalTime date;
  std::string frontend;
  bool frontend_tls = false;  // prints "fe~"
  std::string backend;        // the frontend's name when no backend was chosen
  std::string server;         // empty: "<NOSRV>"
  // Timers in milliseconds, kNotReached when the event did not happen (section 8.4).
  int64_t t_request = kNotReached;   // TR (HTTP)
  int64_t t_queue = kNotReached;     // Tw
  int64_t t_connect = kNotReached;   // Tc
  int64_t t_response = kNotReached;  // Tr (HTTP)
  int64_t t_active = 0;              // Ta (HTTP): first request byte to last response byte
  int64_t t_total = 0;               // Tt (TCP): accept to close
  int status = 0;                    // HTTP status sent to the client
  uint64_t bytes_out = 0;            // server to client, headers included (%B)
  uint64_t bytes_in = 0;             // client to proxy: zero means a "null" connection
  TerminationState termination;
  uint32_t actconn = 0;  // the process's connections
  uint32_t feconn = 0;
  uint32_t beconn = 0;
  uint32_t srv_conn = 0;
  uint32_t retries = 0;
  bool redispatched = false;  // prints "+retries"
  uint32_t srv_queue = 0;
  uint32_t backend_queue = 0;
  // The request line as received ("GET / HTTP/1.1"); nullopt: "<BADREQ>".
  std::optional<std::string> request_line;
};

// When the events of a session happened on the monotonic clock; unset: never.
struct SessionTimes {
  core::TimePoint accept;
  std::optional<core::TimePoint> request_start;     // HTTP: first byte of this request
  std::optional<core::TimePoint> request_complete;  // HTTP: end of the request headers
  std::optional<core::TimePoint> queue_left;        // a server was chosen, out of any queue
  std::optional<core::TimePoint> connected;         // the server connection was established
  std::optional<core::TimePoint> response_headers;  // HTTP: end of the response headers
  core::TimePoint closed;                           // HTTP: last byte of the response
};

// Fills TR/Tw/Tc/Tr/Ta (HTTP) or Tw/Tc/Tt (TCP) with haproxy's arithmetic: each event is
// counted in whole milliseconds since accept, and each timer is the difference to the
// previous event, with -1 standing for an event that never happened. One quirk follows:
// TCP has no request event (-1), so haproxy's Tw is the queue time plus one ("1/0/5007").
void set_http_timers(SessionLog& s, const SessionTimes& t);
void set_tcp_timers(SessionLog& s, const SessionTimes& t);

// `option httplog`: "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc
// %ac/%fc/%bc/%sc/%rc %sq/%bq %{+Q}r". Cut at max_line characters as haproxy does: the
// request line may end mid-way, without its closing quote.
std::string format_http_log(const SessionLog& s, size_t max_line = kDefaultMaxLine);

// `option httplog clf`: "%{+Q}o %{-Q}ci - - [%trg] %r %ST %B \"\" \"\" %cp %ms %ft %b %s
// %TR %Tw %Tc %Tr %Ta %tsc %ac %fc %bc %sc %rc %sq %bq %CC %CS %hrl %hsl", which ends in a
// space. The date is the request date in GMT; %ms is taken from the same date, which is the
// accept date for a connection's first request (haproxy uses the accept date's always).
std::string format_http_log_clf(const SessionLog& s, size_t max_line = kDefaultMaxLine);

// "[26/Nov/2026:10:44:20 +0000]" without brackets: a LocalTime shifted to GMT (%trg).
std::string format_gmt_log_date(const LocalTime& t);

// `option tcplog`: "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq".
std::string format_tcp_log(const SessionLog& s, size_t max_line = kDefaultMaxLine);

// Neither option: one line at accept time, "Connect from C:P to F:P (fe/HTTP)".
std::string format_connect_log(const SessionLog& s, bool http_mode,
                               size_t max_line = kDefaultMaxLine);

// The request line escaped for %r: bytes outside 32..126, '"' and '#' become "#XX".
std::string escape_request_line(std::string_view line);

// ---- which line a frontend emits, and when ----

enum class LineFormat : uint8_t { kConnect, kTcp, kHttp };
LineFormat line_format(const Proxy& frontend);

// The end-of-session line is skipped under `option dontlognull` when the client sent
// nothing (haproxy: "no data transferred from the client"). The connect line is not.
bool should_log_end(const Proxy& frontend, const SessionLog& s);

// Where a proxy's lines go: its own `log` lines, then the global ones if it says
// `log global`. No target: no line at all, not even "Connect from".
std::vector<LogTarget> log_targets(const Global& global, const Proxy& proxy);

// The whole line for a finished session, or nullopt when nothing is logged at the end
// (the default format logs at accept time: use format_connect_log then).
std::optional<std::string> format_end_of_session(const Proxy& frontend, const SessionLog& s,
                                                 size_t max_line = kDefaultMaxLine);

// ---- syslog framing ----

enum class Facility : uint8_t {
  kKern,
  kUser,
  kMail,
  kDaemon,
  kAuth,
  kSyslog,
  kLpr,
  kNews,
  kUucp,
  kCron,
  kAuth2,
  kFtp,
  kNtp,
  kAudit,
  kAlert,
  kCron2,
  kLocal0,
  kLocal1,
  kLocal2,
  kLocal3,
  kLocal4,
  kLocal5,
  kLocal6,
  kLocal7,
};
enum class Level : uint8_t { kEmerg, kAlert, kCrit, kErr, kWarning, kNotice, kInfo, kDebug };
// haproxy's `log ... format F`: `local` (the default) is rfc3164 without the hostname.
enum class Framing : uint8_t { kLocal, kRfc3164, kRfc5424, kPriority, kShort, kTimed, kIso, kRaw };

std::optional<Facility> facility_from_name(std::string_view name);
std::optional<Level> level_from_name(std::string_view name);
std::optional<Framing> framing_from_name(std::string_view name);

// Traffic lines go out at info; a target drops levels above its maximum and raises levels
// more severe than its minimum. nullopt: this target does not get the message.
std::optional<Level> level_for_target(Level message, Level target_max, Level target_min);

struct SyslogHeader {
  Framing framing = Framing::kLocal;
  Facility facility = Facility::kLocal0;
  Level level = Level::kInfo;
  LocalTime now;
  std::string_view tag = kDefaultTag;
  int pid = 0;
  // `log-send-hostname`; empty: rfc3164 prints "localhost", rfc5424 prints "-".
  std::string_view hostname;
};

// "<134>Nov  6 10:36:28 haproxy[31517]: " and its siblings, per framing.
std::string syslog_header(const SyslogHeader& h);

enum class SinkKind : uint8_t { kSocket, kStream };  // datagram socket vs stdout/stderr

// The bytes of one datagram (or one written line): header and message cut to max_length
// (`log ... len N`, 1024 by default), then "\n". Like haproxy, a socket keeps max_length
// bytes before the newline and a stream max_length - 1.
std::string frame(const SyslogHeader& h, std::string_view message, size_t max_length,
                  SinkKind kind);

}  // namespace logfmt
}  // namespace tandem::lb
