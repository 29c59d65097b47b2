// Health checks for tandem-lb, the pure part: haproxy's per-server rise/fall state machine,
// check intervals and time-outs, the HTTP check request, expect rules, and the log lines.
//
// What haproxy 2.6 does, and so do we (measured against Debian's haproxy 2.6.12):
// - A server with `check` starts UP with its health counter at `rise`: the first failed
//   check takes it DOWN at once, the first passed one makes it fully UP.
// - health counts 0 .. rise+fall-1; the server is UP from `rise` on. A pass adds one and,
//   on reaching rise, jumps to the top; a failure takes one off while above rise, otherwise
//   drops to 0 (DOWN, and any rise progress is lost). So a fully UP server needs `fall`
//   failures in a row, a DOWN one `rise` passes in a row.
// - The next check comes `inter` after the end of the last one when fully UP, `downinter`
//   when fully DOWN (health 0), `fastinter` otherwise (going up, going down, unchecked).
// - Time-outs: with `timeout check`, connecting may take min(timeout connect, inter) and the
//   answer then `timeout check` more; without it the whole check must end within `inter`.
// - `disabled` servers are in MAINT: not checked, not counted, and no log line at start.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "lb/config.h"
#include "lb/http1.h"

namespace tandem::lb::health {

using Duration = std::chrono::milliseconds;

// haproxy's check_status values that our checks can produce.
enum class CheckStatus : uint8_t {
  kSockErr,  // "Socket error": the connection failed after it was made (reset)
  kL4Ok,     // "Layer4 check passed"
  kL4Tout,   // "Layer4 timeout"
  kL4Con,    // "Layer4 connection problem": refused, unreachable
  kL7Ok,     // "Layer7 check passed"
  kL7Tout,   // "Layer7 timeout"
  kL7Rsp,    // "Layer7 invalid response"
  kL7Sts,    // "Layer7 wrong status"
};
std::string_view status_name(CheckStatus s);         // "L4CON", as in stats' check_status
std::string_view status_description(CheckStatus s);  // "Layer4 connection problem"
bool status_passed(CheckStatus s);

// One finished check.
struct CheckResult {
  CheckStatus status = CheckStatus::kL4Ok;
  int code = 0;          // HTTP status; shown in log lines for L7OK and L7STS only
  std::string info;      // shown as `info: "..."` when not empty
  Duration duration{0};  // from the start of the check to its result
  bool passed() const { return status_passed(status); }
  bool operator==(const CheckResult&) const = default;
};

enum class State : uint8_t { kUp, kDown, kMaint };
std::string_view to_string(State s);  // "UP", "DOWN", "MAINT"

struct Params {
  uint32_t rise = 2;
  uint32_t fall = 3;
  Duration inter{2000};
  Duration fastinter{2000};
  Duration downinter{2000};
  bool disabled = false;  // starts in MAINT
};
// From a server line (fastinter and downinter fall back to inter when unset).
Params params_from(const ServerParams& p);

enum class Change : uint8_t { kNone, kWentUp, kWentDown };

// One server's check state. Feed it each result; it says when the server changed state.
class ServerHealth {
 public:
  explicit ServerHealth(const Params& params);

  Change record(const CheckResult& result, core::TimePoint now);

  // MAINT stops checks; leaving it starts over as at boot (UP, one failure from DOWN).
  void set_maintenance(bool on, core::TimePoint now);
  // A saved state (server-state-file, a reload) says the server was DOWN: it starts DOWN with
  // no passed check, and `rise` passed checks bring it UP. No effect in maintenance.
  void start_down(core::TimePoint now);

  State state() const { return state_; }
  bool up() const { return state_ == State::kUp; }
  // UP but failing ("going down"), or DOWN but passing ("going up"), as haproxy's stats show.
  bool going_down() const { return state_ == State::kUp && health_ < max_health(); }
  bool going_up() const { return state_ == State::kDown && health_ > 0; }
  uint32_t health() const { return health_; }
  uint32_t max_health() const { return params_.rise + params_.fall - 1; }
  // The wait before the next check: inter, fastinter or downinter (without spread).
  Duration interval() const;

  const Params& params() const { return params_; }
  const std::optional<CheckResult>& last_result() const { return last_; }
  uint64_t checks() const { return checks_; }
  uint64_t failed_checks() const { return failed_checks_; }  // failures while UP (chkfail)
  uint64_t down_transitions() const { return downs_; }       // UP -> DOWN (chkdown)
  core::TimePoint last_change() const { return last_change_; }

 private:
  Params params_;
  State state_;
  uint32_t health_;
  std::optional<CheckResult> last_;
  uint64_t checks_ = 0, failed_checks_ = 0, downs_ = 0;
  core::TimePoint last_change_{};
};

// ---- scheduling ----

// haproxy spreads the first checks: server `index` of `count` starts at
// min_interval * index / count, min_interval being the smallest first interval of all.
Duration first_check_delay(size_t index, size_t count, Duration min_interval);
// spread-checks: interval +/- up to percent% (0..50); uniform01 is a draw in [0, 1].
Duration spread(Duration interval, uint32_t percent, double uniform01);

struct CheckTimeouts {
  Duration connect;  // from the start of the check
  // After connecting: how long the answer may take. Unset: the whole check ends at
  // start + connect (no `timeout check`: inter bounds connect and answer together).
  std::optional<Duration> after_connect;
};
CheckTimeouts check_timeouts(Duration inter, std::optional<Duration> timeout_connect,
                             std::optional<Duration> timeout_check);

// ---- HTTP checks ----

// The request bytes as haproxy 2.6 sends them: "METHOD URI VERSION", `http-check send hdr`
// names lower-cased, content-length when there is a body, "connection: close" for HTTP/1.1.
std::string build_request(const HttpCheck& check);

// The part of a response an expect rule looks at.
struct ResponseView {
  int status = 0;
  std::string_view reason;
  std::string_view body;
};

// `http-check expect [!] status|rstatus|string|rstring PATTERN`, compiled once.
class ExpectRule {
 public:
  // Unset: haproxy's default (2xx and 3xx pass).
  static core::Result<ExpectRule> compile(const std::optional<HttpCheck::Expect>& expect);

  bool needs_body() const;
  // The verdict on a complete (or truncated) response; duration is left at 0.
  CheckResult evaluate(const ResponseView& response) const;

 private:
  using Kind = HttpCheck::Expect::Kind;
  bool default_ = true;
  Kind kind_ = Kind::kStatus;
  bool negate_ = false;
  std::string pattern_;
  std::vector<std::pair<int, int>> ranges_;  // kStatus
  std::optional<std::regex> regex_;          // kRstatus, kRstring
};

// Reads one check response incrementally: says as soon as the rule can decide. `rule` must
// outlive the reader. Unlike haproxy, a status outside 100..599 is L7RSP (http1 rejects it;
// haproxy 2.6 reported "HTTP/1.1 600 Weird" as L7STS, code 600).
class ResponseReader {
 public:
  static constexpr size_t kMaxBody = 16384;  // tune.bufsize: haproxy matches within one buffer

  ResponseReader(const ExpectRule& rule, std::string_view method, size_t max_body = kMaxBody);

  // The verdict once known (then feed no more).
  std::optional<CheckResult> feed(std::string_view bytes);
  // The server closed its side: a verdict on what arrived.
  CheckResult finish();

 private:
  CheckResult decide() const;

  const ExpectRule& rule_;
  http1::Parser parser_;
  size_t max_body_;
  bool have_head_ = false;
  int status_ = 0;
  std::string reason_;
  std::string body_;
};

// ---- log lines, byte for byte as haproxy 2.6 writes them ----

// The backend after the change, as the caller's pool sees it (haproxy's srv_act, srv_bck,
// the server's sessions, and what was requeued and is queued).
struct PoolCounts {
  uint32_t active = 0;  // usable non-backup servers
  uint32_t backup = 0;  // usable backup servers
  uint32_t sessions = 0;
  uint32_t requeued = 0;
  uint32_t queued = 0;
};

// "Server be/s1 is DOWN, reason: Layer4 connection problem, info: \"Connection refused\",
// check duration: 0ms. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0
// remaining in queue."
std::string down_line(std::string_view backend, std::string_view server, bool backup,
                      const CheckResult& result, const PoolCounts& counts);
// "Server be/s1 is UP, reason: Layer7 check passed, code: 200, check duration: 0ms. 1 active
// and 0 backup servers online. 0 sessions requeued, 0 total in queue."
std::string up_line(std::string_view backend, std::string_view server, bool backup,
                    const CheckResult& result, const PoolCounts& counts);
// "backend be has no server available!", after the last server of a backend went DOWN.
std::string no_server_line(std::string_view backend);

}  // namespace tandem::lb::health
