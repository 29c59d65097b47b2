// Logging over spdlog: one line per event, to stderr, a file or syslog; and a rate limiter
// for lines that could repeat per packet or per request.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "core/result.h"

namespace tandem::core {

struct LogOptions {
  enum class Sink { kStderr, kFile, kSyslog };
  Sink sink = Sink::kStderr;
  std::string path;              // kFile: the file, appended to
  std::string ident = "tandem";  // program name in syslog and in the line
  int syslog_facility = 3 << 3;  // LOG_DAEMON
  spdlog::level::level_enum level = spdlog::level::info;
};

// Parses "stderr", "syslog", "file:/path" or a bare path (a file).
Result<LogOptions::Sink> parse_log_sink(std::string_view text, std::string* path_out);
// Parses "trace", "debug", "info", "notice" (= info), "warning", "error", "critical".
Result<spdlog::level::level_enum> parse_log_level(std::string_view text);

// Installs the process-wide logger. Safe to call again (a reload may move the log).
Result<void> init_logging(const LogOptions& options);
spdlog::logger& logger();

// Lets through `burst` lines per `interval`; counts the rest so the next line let through
// can say how many were held back. Not thread-safe: one per loop or per object.
class RateLimiter {
 public:
  RateLimiter(Duration interval, uint32_t burst) : interval_(interval), burst_(burst) {}

  // True when a line may be written now; *suppressed gets how many were held back since
  // the last line let through.
  bool allow(TimePoint now, uint64_t* suppressed);
  uint64_t total_suppressed() const { return total_suppressed_; }

 private:
  Duration interval_;
  uint32_t burst_;
  TimePoint window_start_{};
  uint32_t in_window_ = 0;
  uint64_t held_back_ = 0;
  uint64_t total_suppressed_ = 0;
  bool started_ = false;
};

// Writes one line through `limiter`: e.g. log_limited(lim, clock.now(), spdlog::level::warn,
// "bad advert from {}: {}", src, why).
template <class... Args>
void log_limited(RateLimiter& limiter, TimePoint now, spdlog::level::level_enum level,
                 fmt::format_string<Args...> format, Args&&... args) {
  uint64_t suppressed = 0;
  if (!limiter.allow(now, &suppressed)) return;
  std::string line = fmt::format(format, std::forward<Args>(args)...);
  if (suppressed > 0) line += fmt::format(" ({} similar lines suppressed)", suppressed);
  logger().log(level, line);
}

}  // namespace tandem::core
