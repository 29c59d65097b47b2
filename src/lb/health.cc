// Health checks, the pure part: state machine, schedule, HTTP request and expect rules, and
// haproxy's log lines. The facts behind each rule are listed at the top of health.h.
#include "lb/health.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include <fmt/format.h>

namespace tandem::lb::health {

std::string_view status_name(CheckStatus s) {
  switch (s) {
    case CheckStatus::kSockErr:
      return "SOCKERR";
    case CheckStatus::kL4Ok:
      return "L4OK";
    case CheckStatus::kL4Tout:
      return "L4TOUT";
    case CheckStatus::kL4Con:
      return "L4CON";
    case CheckStatus::kL7Ok:
      return "L7OK";
    case CheckStatus::kL7Tout:
      return "L7TOUT";
    case CheckStatus::kL7Rsp:
      return "L7RSP";
    case CheckStatus::kL7Sts:
      return "L7STS";
  }
  return "UNK";
}

std::string_view status_description(CheckStatus s) {
  switch (s) {
    case CheckStatus::kSockErr:
      return "Socket error";
    case CheckStatus::kL4Ok:
      return "Layer4 check passed";
    case CheckStatus::kL4Tout:
      return "Layer4 timeout";
    case CheckStatus::kL4Con:
      return "Layer4 connection problem";
    case CheckStatus::kL7Ok:
      return "Layer7 check passed";
    case CheckStatus::kL7Tout:
      return "Layer7 timeout";
    case CheckStatus::kL7Rsp:
      return "Layer7 invalid response";
    case CheckStatus::kL7Sts:
      return "Layer7 wrong status";
  }
  return "Unknown";
}

bool status_passed(CheckStatus s) {
  return s == CheckStatus::kL4Ok || s == CheckStatus::kL7Ok;
}

std::string_view to_string(State s) {
  switch (s) {
    case State::kUp:
      return "UP";
    case State::kDown:
      return "DOWN";
    case State::kMaint:
      return "MAINT";
  }
  return "?";
}

Params params_from(const ServerParams& p) {
  Params out;
  out.rise = std::max<uint32_t>(p.rise, 1);
  out.fall = std::max<uint32_t>(p.fall, 1);
  out.inter = p.inter;
  out.fastinter = p.fastinter.value_or(p.inter);
  out.downinter = p.downinter.value_or(p.inter);
  out.disabled = p.disabled;
  return out;
}

// ---- state machine ----

ServerHealth::ServerHealth(const Params& params) : params_(params) {
  params_.rise = std::max<uint32_t>(params_.rise, 1);
  params_.fall = std::max<uint32_t>(params_.fall, 1);
  state_ = params.disabled ? State::kMaint : State::kUp;
  health_ = params.disabled ? 0 : params_.rise;  // UP, but one failure from DOWN
}

Change ServerHealth::record(const CheckResult& result, core::TimePoint now) {
  if (state_ == State::kMaint) return Change::kNone;  // a check that was running when paused
  ++checks_;
  last_ = result;
  if (result.passed()) {
    if (health_ < max_health()) {
      ++health_;
      if (health_ >= params_.rise) health_ = max_health();
    }
    if (state_ == State::kDown && health_ >= params_.rise) {
      state_ = State::kUp;
      last_change_ = now;
      return Change::kWentUp;
    }
    return Change::kNone;
  }
  if (state_ == State::kUp) ++failed_checks_;
  if (health_ > params_.rise) {
    --health_;  // still UP, going down
    return Change::kNone;
  }
  health_ = 0;
  if (state_ == State::kUp) {
    state_ = State::kDown;
    ++downs_;
    last_change_ = now;
    return Change::kWentDown;
  }
  return Change::kNone;
}

void ServerHealth::set_maintenance(bool on, core::TimePoint now) {
  if (on == (state_ == State::kMaint)) return;
  last_change_ = now;
  if (on) {
    state_ = State::kMaint;
    health_ = 0;
  } else {
    state_ = State::kUp;
    health_ = params_.rise;
  }
}

void ServerHealth::start_down(core::TimePoint now) {
  if (state_ != State::kUp) return;
  state_ = State::kDown;
  health_ = 0;
  last_change_ = now;
}

Duration ServerHealth::interval() const {
  if (health_ == max_health()) return params_.inter;
  if (state_ == State::kDown && health_ == 0) return params_.downinter;
  return params_.fastinter;
}

// ---- scheduling ----

Duration first_check_delay(size_t index, size_t count, Duration min_interval) {
  if (count == 0) return Duration{0};
  return Duration{min_interval.count() * static_cast<int64_t>(index) / static_cast<int64_t>(count)};
}

Duration spread(Duration interval, uint32_t percent, double uniform01) {
  if (percent == 0) return interval;
  percent = std::min<uint32_t>(percent, 50);
  uniform01 = std::clamp(uniform01, 0.0, 1.0);
  // As haproxy: rv = inter * pct / 100, then rv -= 2 * rv * draw, giving [-rv, +rv].
  int64_t rv = interval.count() * percent / 100;
  rv -= static_cast<int64_t>(2.0 * static_cast<double>(rv) * uniform01);
  return Duration{std::max<int64_t>(interval.count() + rv, 0)};
}

CheckTimeouts check_timeouts(Duration inter, std::optional<Duration> timeout_connect,
                             std::optional<Duration> timeout_check) {
  if (!timeout_check) return {inter, std::nullopt};
  // The min keeps a long `timeout connect` (set for queues or tarpits) from slowing checks.
  Duration connect = std::min(timeout_connect.value_or(inter), inter);
  return {connect, *timeout_check};
}

// ---- HTTP ----

std::string build_request(const HttpCheck& check) {
  std::string out;
  out.reserve(64 + check.uri.size() + check.body.size());
  out += check.method;
  out += ' ';
  out += check.uri;
  out += ' ';
  out += check.version;
  out += "\r\n";
  bool have_length = false, have_connection = false;
  for (const auto& [name, value] : check.headers) {
    // haproxy writes HTTP/1 header names in lower case.
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    have_length = have_length || lower == "content-length";
    have_connection = have_connection || lower == "connection";
    out += lower;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  if (!check.body.empty() && !have_length) {
    out += fmt::format("content-length: {}\r\n", check.body.size());
  }
  if (check.version == "HTTP/1.1" && !have_connection) out += "connection: close\r\n";
  out += "\r\n";
  out += check.body;
  return out;
}

namespace {

std::optional<int> parse_code(std::string_view s) {
  int v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// "200", "200-399", "200,302,500-504".
std::optional<std::vector<std::pair<int, int>>> parse_ranges(std::string_view text) {
  std::vector<std::pair<int, int>> out;
  while (true) {
    size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    size_t dash = item.find('-');
    auto lo = parse_code(item.substr(0, dash));
    auto hi = dash == std::string_view::npos ? lo : parse_code(item.substr(dash + 1));
    if (!lo || !hi || *lo > *hi) return std::nullopt;
    out.emplace_back(*lo, *hi);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

CheckResult l7(CheckStatus s, int code, std::string info) {
  CheckResult r;
  r.status = s;
  r.code = code;
  r.info = std::move(info);
  return r;
}

}  // namespace

core::Result<ExpectRule> ExpectRule::compile(const std::optional<HttpCheck::Expect>& expect) {
  ExpectRule rule;
  if (!expect) return rule;
  rule.default_ = false;
  rule.kind_ = expect->kind;
  rule.negate_ = expect->negate;
  rule.pattern_ = expect->pattern;
  switch (expect->kind) {
    case Kind::kStatus: {
      auto ranges = parse_ranges(expect->pattern);
      if (!ranges) return core::fail("invalid status list '" + expect->pattern + "'");
      rule.ranges_ = std::move(*ranges);
      break;
    }
    case Kind::kRstatus:
    case Kind::kRstring:
      try {
        // ECMAScript is the std flavour closest to haproxy's PCRE for usual patterns.
        rule.regex_.emplace(expect->pattern, std::regex::ECMAScript | std::regex::optimize);
      } catch (const std::regex_error& e) {
        return core::fail("invalid regex '" + expect->pattern + "': " + e.what());
      }
      break;
    case Kind::kString:
      if (expect->pattern.empty()) return core::fail("empty string pattern");
      break;
  }
  return rule;
}

bool ExpectRule::needs_body() const {
  return !default_ && (kind_ == Kind::kString || kind_ == Kind::kRstring);
}

CheckResult ExpectRule::evaluate(const ResponseView& r) const {
  std::string reason(r.reason);
  if (default_) {
    bool ok = r.status >= 200 && r.status < 400;
    return ok ? l7(CheckStatus::kL7Ok, r.status, "")
              : l7(CheckStatus::kL7Sts, r.status, std::move(reason));
  }
  bool match = false;
  switch (kind_) {
    case Kind::kStatus:
      match = std::any_of(ranges_.begin(), ranges_.end(),
                          [&](auto lh) { return r.status >= lh.first && r.status <= lh.second; });
      break;
    case Kind::kRstatus: {
      std::string code = std::to_string(r.status);
      match = std::regex_search(code, *regex_);
      break;
    }
    case Kind::kString:
    case Kind::kRstring:
      // Body rules ignore the status; an empty body fails whatever the negation.
      if (r.body.empty()) {
        return l7(CheckStatus::kL7Rsp, r.status,
                  "HTTP content check could not find a response body");
      }
      match = kind_ == Kind::kString ? r.body.find(pattern_) != std::string_view::npos
                                     : std::regex_search(r.body.begin(), r.body.end(), *regex_);
      if (match != negate_) return l7(CheckStatus::kL7Ok, r.status, "");
      return l7(
          CheckStatus::kL7Rsp, r.status,
          negate_ ? "HTTP check matched unwanted content" : "HTTP content check did not match");
  }
  if (match != negate_) return l7(CheckStatus::kL7Ok, r.status, "");
  return l7(CheckStatus::kL7Sts, r.status, std::move(reason));
}

ResponseReader::ResponseReader(const ExpectRule& rule, std::string_view method, size_t max_body)
    : rule_(rule), parser_(http1::Mode::kResponse), max_body_(max_body) {
  parser_.expect_response_to(method);
}

std::optional<CheckResult> ResponseReader::feed(std::string_view bytes) {
  http1::Progress p = parser_.feed(bytes);
  if (!have_head_ && p.head_complete) {
    // The first head decides status rules, interim (1xx) ones included, as haproxy does.
    have_head_ = true;
    status_ = parser_.head().status;
    reason_ = parser_.head().reason;
    if (!rule_.needs_body()) return decide();
  }
  if (have_head_) {
    for (std::string_view piece : p.body) {
      body_.append(piece.substr(0, max_body_ - body_.size()));
      if (body_.size() >= max_body_) return decide();  // one buffer, like haproxy
    }
    if (p.message_complete) return decide();
  }
  if (p.failed()) return have_head_ ? decide() : l7(CheckStatus::kL7Rsp, 0, "");
  return std::nullopt;
}

CheckResult ResponseReader::finish() {
  if (!have_head_) return l7(CheckStatus::kL7Rsp, 0, "");
  // A truncated body is still judged on what arrived (haproxy: "did not match").
  return decide();
}

CheckResult ResponseReader::decide() const {
  return rule_.evaluate({status_, reason_, body_});
}

// ---- log lines ----

namespace {

std::string head_part(std::string_view backend, std::string_view server, bool backup,
                      std::string_view what, const CheckResult& r) {
  std::string out = fmt::format("{}Server {}/{} is {}, reason: {}", backup ? "Backup " : "",
                                backend, server, what, status_description(r.status));
  // haproxy shows a code only for statuses that carry layer-7 data.
  if (r.status == CheckStatus::kL7Ok || r.status == CheckStatus::kL7Sts) {
    out += fmt::format(", code: {}", r.code);
  }
  if (!r.info.empty()) out += fmt::format(", info: \"{}\"", r.info);
  out += fmt::format(", check duration: {}ms", r.duration.count());
  return out;
}

std::string_view on_backup(const PoolCounts& c) {
  return c.backup > 0 && c.active == 0 ? " Running on backup." : "";
}

}  // namespace

std::string down_line(std::string_view backend, std::string_view server, bool backup,
                      const CheckResult& result, const PoolCounts& c) {
  return head_part(backend, server, backup, "DOWN", result) +
         fmt::format(
             ". {} active and {} backup servers left.{} {} sessions active, {} requeued, {} "
             "remaining in queue.",
             c.active, c.backup, on_backup(c), c.sessions, c.requeued, c.queued);
}

std::string up_line(std::string_view backend, std::string_view server, bool backup,
                    const CheckResult& result, const PoolCounts& c) {
  return head_part(backend, server, backup, "UP", result) +
         fmt::format(
             ". {} active and {} backup servers online.{} {} sessions requeued, {} total "
             "in queue.",
             c.active, c.backup, on_backup(c), c.requeued, c.queued);
}

std::string no_server_line(std::string_view backend) {
  return fmt::format("backend {} has no server available!", backend);
}

}  // namespace tandem::lb::health
