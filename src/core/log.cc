#include "core/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/syslog_sink.h>

#include <syslog.h>

#include <filesystem>

namespace tandem::core {

namespace {
std::shared_ptr<spdlog::logger>& current() {
  static std::shared_ptr<spdlog::logger> logger;
  return logger;
}
}  // namespace

Result<LogOptions::Sink> parse_log_sink(std::string_view text, std::string* path_out) {
  if (text == "stderr") return LogOptions::Sink::kStderr;
  if (text == "syslog") return LogOptions::Sink::kSyslog;
  if (text.starts_with("file:")) text.remove_prefix(5);
  if (text.empty()) return fail("empty log destination (use stderr, syslog or a file path)");
  if (path_out) *path_out = std::string(text);
  return LogOptions::Sink::kFile;
}

Result<spdlog::level::level_enum> parse_log_level(std::string_view text) {
  if (text == "trace") return spdlog::level::trace;
  if (text == "debug") return spdlog::level::debug;
  if (text == "info" || text == "notice") return spdlog::level::info;
  if (text == "warning" || text == "warn") return spdlog::level::warn;
  if (text == "error" || text == "err") return spdlog::level::err;
  if (text == "critical" || text == "crit" || text == "alert" || text == "emerg")
    return spdlog::level::critical;
  return fail("unknown log level '" + std::string(text) +
              "' (use trace, debug, info, notice, warning, error or critical)");
}

Result<void> init_logging(const LogOptions& options) {
  spdlog::sink_ptr sink;
  std::string pattern;
  try {
    switch (options.sink) {
      case LogOptions::Sink::kStderr:
        sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
        pattern = "%Y-%m-%dT%H:%M:%S.%e %n[%P] %l: %v";
        break;
      case LogOptions::Sink::kFile: {
        // spdlog would create missing folders; a typo in a log path should be an error.
        auto parent = std::filesystem::path(options.path).parent_path();
        if (!parent.empty() && !std::filesystem::is_directory(parent))
          return fail("cannot open log " + options.path + ": folder " + parent.string() +
                      " does not exist");
        sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(options.path, false);
        pattern = "%Y-%m-%dT%H:%M:%S.%e %n[%P] %l: %v";
        break;
      }
      case LogOptions::Sink::kSyslog:
        // syslog adds its own time and pid.
        sink = std::make_shared<spdlog::sinks::syslog_sink_mt>(options.ident, LOG_PID,
                                                               options.syslog_facility, false);
        pattern = "%v";
        break;
    }
  } catch (const spdlog::spdlog_ex& e) {
    return fail(std::string("cannot open log: ") + e.what());
  }
  auto logger = std::make_shared<spdlog::logger>(options.ident, sink);
  logger->set_pattern(pattern);
  logger->set_level(options.level);
  logger->flush_on(spdlog::level::trace);  // one line per event, visible at once
  current() = logger;
  return {};
}

spdlog::logger& logger() {
  auto& l = current();
  if (!l) {
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    l = std::make_shared<spdlog::logger>("tandem", sink);
    l->set_pattern("%Y-%m-%dT%H:%M:%S.%e %n[%P] %l: %v");
    l->flush_on(spdlog::level::trace);
  }
  return *l;
}

bool RateLimiter::allow(TimePoint now, uint64_t* suppressed) {
  if (!started_ || now - window_start_ >= interval_) {
    started_ = true;
    window_start_ = now;
    in_window_ = 0;
  }
  if (in_window_ < burst_) {
    ++in_window_;
    if (suppressed) *suppressed = held_back_;
    held_back_ = 0;
    return true;
  }
  ++held_back_;
  ++total_suppressed_;
  return false;
}

}  // namespace tandem::core
