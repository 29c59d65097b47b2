// Small argument parsers for keyword handlers: each reports a bad word as a diagnostic at it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

#include "conf/word.h"
#include "core/diagnostic.h"

namespace tandem::conf {

// A decimal integer in [min, max]; `what` names the value in messages ("priority").
std::optional<uint64_t> parse_uint(const Word& w, uint64_t min, uint64_t max,
                                   core::Diagnostics& diags, std::string_view what);
std::optional<int64_t> parse_int(const Word& w, int64_t min, int64_t max, core::Diagnostics& diags,
                                 std::string_view what);

enum class TimeUnit { kMicroseconds, kMilliseconds, kSeconds };

// A haproxy time: digits and an optional unit among us, ms, s, m, h, d ("100ms", "2s", "1m");
// without a unit, `default_unit` (milliseconds for most haproxy keywords).
std::optional<std::chrono::microseconds> parse_haproxy_time(
    const Word& w, core::Diagnostics& diags, std::string_view what,
    TimeUnit default_unit = TimeUnit::kMilliseconds);

// A keepalived <TIMER>: seconds with up to six decimals ("3", "0.1"); resolution 1 us.
std::optional<std::chrono::microseconds> parse_keepalived_seconds(const Word& w,
                                                                  core::Diagnostics& diags,
                                                                  std::string_view what);

// keepalived's <BOOL>: on|off|true|false|yes|no.
std::optional<bool> parse_bool(const Word& w, core::Diagnostics& diags, std::string_view what);

}  // namespace tandem::conf
