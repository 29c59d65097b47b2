// Where traffic log lines go: non-blocking senders for haproxy's `log` targets (a unix
// datagram socket such as /dev/log, UDP, stdout, stderr) and a logger that frames a line
// for each target. A full socket or pipe drops the line and counts it; nothing waits.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "lb/log_format.h"

namespace tandem::lb {

struct LogTarget;

namespace logfmt {

struct SinkCounters {
  uint64_t sent = 0;
  uint64_t dropped = 0;    // the socket buffer or pipe was full (EAGAIN, ENOBUFS)
  uint64_t failed = 0;     // any other error: no listener on /dev/log, unreachable, ...
  uint64_t truncated = 0;  // a stream took only part of a line
};

// One destination. send() never blocks and never throws.
class LogSink {
 public:
  virtual ~LogSink() = default;
  virtual void send(std::string_view bytes) = 0;
  virtual SinkKind kind() const = 0;
  const SinkCounters& counters() const { return counters_; }

 protected:
  SinkCounters counters_;
};
using LogSinkPtr = std::unique_ptr<LogSink>;

// A datagram socket to a unix path ("/dev/log") or to a numeric IPv4/IPv6 address and port.
core::Result<LogSinkPtr> make_unix_sink(const std::string& path);
core::Result<LogSinkPtr> make_udp_sink(const std::string& ip, uint16_t port);
// fd 1 or 2. Like haproxy, a descriptor that is not a terminal is switched to O_NONBLOCK
// (which the whole open file description shares); a terminal is polled before writing.
core::Result<LogSinkPtr> make_stream_sink(int fd);
// From a parsed `log` line.
core::Result<LogSinkPtr> make_sink(const LogTarget& target);

// A sink that keeps what it is given, for tests and for `tandem-lb -d` style dumps.
class MemorySink final : public LogSink {
 public:
  explicit MemorySink(SinkKind kind = SinkKind::kSocket) : kind_(kind) {}
  void send(std::string_view bytes) override {
    messages.emplace_back(bytes);
    ++counters_.sent;
  }
  SinkKind kind() const override { return kind_; }
  std::vector<std::string> messages;

 private:
  SinkKind kind_;
};

// A target with its framing and level filter, as one `log` line describes it.
struct LogDestination {
  LogSinkPtr sink;
  Framing framing = Framing::kLocal;
  Facility facility = Facility::kLocal0;
  Level max_level = Level::kDebug;
  Level min_level = Level::kEmerg;
  size_t max_length = 1024;
};

// Resolves framing, facility and levels of a parsed `log` line and opens its sink.
core::Result<LogDestination> make_destination(const LogTarget& target);

// Sends one message to every destination whose level filter lets it through.
class Logger {
 public:
  Logger(std::string tag, int pid, std::string hostname = {})
      : tag_(std::move(tag)), pid_(pid), hostname_(std::move(hostname)) {}

  void add(LogDestination d) { destinations_.push_back(std::move(d)); }
  bool empty() const { return destinations_.empty(); }
  // The line length a frontend should format to: haproxy sizes its line buffer by the
  // largest `len` of all targets (1024 at least), less one.
  size_t max_line() const;

  void emit(Level level, std::string_view message, const LocalTime& now);
  void emit(Level level, std::string_view message);  // now: the system clock

  const std::vector<LogDestination>& destinations() const { return destinations_; }

 private:
  std::string tag_;
  int pid_;
  std::string hostname_;
  std::vector<LogDestination> destinations_;
};

}  // namespace logfmt
}  // namespace tandem::lb
