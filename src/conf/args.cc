#include "conf/args.h"

#include <charconv>
#include <limits>

#include <fmt/format.h>

namespace tandem::conf {
namespace {

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// Digits only, no sign; nullopt on overflow.
std::optional<uint64_t> to_u64(std::string_view s) {
  if (!all_digits(s)) return std::nullopt;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

std::optional<uint64_t> parse_uint(const Word& w, uint64_t min, uint64_t max,
                                   core::Diagnostics& diags, std::string_view what) {
  auto v = to_u64(w.text);
  if (!v && all_digits(w.text)) {
    diags.error(w.where, fmt::format("{} '{}' is out of range", what, w.text),
                fmt::format("expected a whole number from {} to {}", min, max));
    return std::nullopt;
  }
  if (!v) {
    diags.error(w.where, fmt::format("invalid {} '{}'", what, w.text),
                fmt::format("expected a whole number from {} to {}", min, max));
    return std::nullopt;
  }
  if (*v < min || *v > max) {
    diags.error(w.where, fmt::format("{} {} is out of range", what, *v),
                fmt::format("expected a whole number from {} to {}", min, max));
    return std::nullopt;
  }
  return v;
}

std::optional<int64_t> parse_int(const Word& w, int64_t min, int64_t max, core::Diagnostics& diags,
                                 std::string_view what) {
  std::string_view s = w.text;
  bool negative = !s.empty() && s[0] == '-';
  if (negative || (!s.empty() && s[0] == '+')) s.remove_prefix(1);
  auto hint = fmt::format("expected a whole number from {} to {}", min, max);
  auto magnitude = to_u64(s);
  if (!magnitude) {
    diags.error(w.where,
                all_digits(s) ? fmt::format("{} '{}' is out of range", what, w.text)
                              : fmt::format("invalid {} '{}'", what, w.text),
                hint);
    return std::nullopt;
  }
  const uint64_t limit =
      negative ? uint64_t{1} << 63 : uint64_t{std::numeric_limits<int64_t>::max()};
  if (*magnitude > limit) {
    diags.error(w.where, fmt::format("{} '{}' is out of range", what, w.text), hint);
    return std::nullopt;
  }
  int64_t v = negative ? static_cast<int64_t>(0 - *magnitude) : static_cast<int64_t>(*magnitude);
  if (v < min || v > max) {
    diags.error(w.where, fmt::format("{} {} is out of range", what, v), hint);
    return std::nullopt;
  }
  return v;
}

std::optional<std::chrono::microseconds> parse_haproxy_time(const Word& w, core::Diagnostics& diags,
                                                            std::string_view what,
                                                            TimeUnit default_unit) {
  std::string_view s = w.text;
  size_t digits = 0;
  while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') ++digits;
  std::string_view unit = s.substr(digits);
  const char* hint = "write a number and a unit among us, ms, s, m, h, d (e.g. 100ms, 2s, 1m)";
  auto value = to_u64(s.substr(0, digits));
  if (!value) {
    diags.error(w.where, fmt::format("invalid {} '{}'", what, w.text), hint);
    return std::nullopt;
  }
  uint64_t scale = 0;
  if (unit.empty()) {
    scale = default_unit == TimeUnit::kMicroseconds   ? 1
            : default_unit == TimeUnit::kMilliseconds ? 1000
                                                      : 1000000;
  } else if (unit == "us") {
    scale = 1;
  } else if (unit == "ms") {
    scale = 1000;
  } else if (unit == "s") {
    scale = 1000000;
  } else if (unit == "m") {
    scale = 60000000;
  } else if (unit == "h") {
    scale = 3600000000ULL;
  } else if (unit == "d") {
    scale = 86400000000ULL;
  } else {
    diags.error(w.where, fmt::format("unknown time unit '{}' in {} '{}'", unit, what, w.text),
                hint);
    return std::nullopt;
  }
  // Bounded well below overflow: 2^31 ms (about 24.8 days) is haproxy's own limit for timers.
  constexpr uint64_t kMaxMicros = (uint64_t{1} << 31) * 1000;
  if (*value > kMaxMicros / scale) {
    diags.error(w.where, fmt::format("{} '{}' is too large", what, w.text),
                "the largest time is 2147483647ms (about 24.8 days)");
    return std::nullopt;
  }
  return std::chrono::microseconds(static_cast<int64_t>(*value * scale));
}

std::optional<std::chrono::microseconds> parse_keepalived_seconds(const Word& w,
                                                                  core::Diagnostics& diags,
                                                                  std::string_view what) {
  std::string_view s = w.text;
  const char* hint = "write seconds, with up to six decimals: e.g. 1, 0.1, 2.5";
  size_t dot = s.find('.');
  std::string_view whole = s.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1);
  if ((whole.empty() && frac.empty()) || (!whole.empty() && !all_digits(whole)) ||
      (!frac.empty() && !all_digits(frac))) {
    diags.error(w.where, fmt::format("invalid {} '{}'", what, w.text), hint);
    return std::nullopt;
  }
  if (frac.size() > 6) {
    diags.error(w.where, fmt::format("{} '{}' is finer than a microsecond", what, w.text), hint);
    return std::nullopt;
  }
  auto secs = whole.empty() ? std::optional<uint64_t>(0) : to_u64(whole);
  constexpr uint64_t kMaxSeconds = 1000000000;  // ~31 years: far past any sane timer
  if (!secs || *secs > kMaxSeconds) {
    diags.error(w.where, fmt::format("{} '{}' is too large", what, w.text), hint);
    return std::nullopt;
  }
  uint64_t micros = 0;
  for (size_t k = 0; k < 6; ++k) micros = micros * 10 + (k < frac.size() ? frac[k] - '0' : 0);
  return std::chrono::microseconds(static_cast<int64_t>(*secs * 1000000 + micros));
}

std::optional<bool> parse_bool(const Word& w, core::Diagnostics& diags, std::string_view what) {
  const std::string& s = w.text;
  if (s == "on" || s == "true" || s == "yes") return true;
  if (s == "off" || s == "false" || s == "no") return false;
  diags.error(w.where, fmt::format("invalid {} '{}'", what, s),
              "write one of on, off, true, false, yes, no");
  return std::nullopt;
}

}  // namespace tandem::conf
