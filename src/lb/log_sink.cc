// Non-blocking senders for traffic log lines; see log_sink.h.
#include "lb/log_sink.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "lb/config.h"

namespace tandem::lb::logfmt {
namespace {

bool would_block(int err) {
  return err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS;
}

class DatagramSink final : public LogSink {
 public:
  DatagramSink(int fd, sockaddr_storage addr, socklen_t len) : fd_(fd), addr_(addr), len_(len) {}
  ~DatagramSink() override { ::close(fd_); }
  DatagramSink(const DatagramSink&) = delete;
  DatagramSink& operator=(const DatagramSink&) = delete;

  void send(std::string_view bytes) override {
    // MSG_DONTWAIT as well as O_NONBLOCK: a full buffer is a dropped line, never a wait.
    ssize_t n = ::sendto(fd_, bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL,
                         reinterpret_cast<const sockaddr*>(&addr_), len_);
    if (n >= 0) {
      ++counters_.sent;
    } else if (would_block(errno)) {
      ++counters_.dropped;
    } else {
      ++counters_.failed;  // e.g. ECONNREFUSED or ENOENT while syslog restarts
    }
  }
  SinkKind kind() const override { return SinkKind::kSocket; }

 private:
  int fd_;
  sockaddr_storage addr_;
  socklen_t len_;
};

class StreamSink final : public LogSink {
 public:
  StreamSink(int fd, bool poll_first) : fd_(fd), poll_first_(poll_first) {}

  void send(std::string_view bytes) override {
    if (poll_first_) {  // a terminal left blocking: write only when it has room now
      pollfd p{.fd = fd_, .events = POLLOUT, .revents = 0};
      if (::poll(&p, 1, 0) != 1 || !(p.revents & POLLOUT)) {
        ++counters_.dropped;
        return;
      }
    }
    ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n == static_cast<ssize_t>(bytes.size())) {
      ++counters_.sent;
    } else if (n >= 0) {
      ++counters_.truncated;  // a pipe took part of it; the rest is dropped, not queued
    } else if (would_block(errno)) {
      ++counters_.dropped;
    } else {
      ++counters_.failed;
    }
  }
  SinkKind kind() const override { return SinkKind::kStream; }

 private:
  int fd_;  // not owned: stdout or stderr
  bool poll_first_;
};

core::Result<LogSinkPtr> datagram(int family, const sockaddr_storage& addr, socklen_t len,
                                  const std::string& what) {
  int fd = ::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return core::fail_errno("log socket for " + what, errno);
  // Nothing is read from it; haproxy also shrinks the receive buffer.
  int zero = 0;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &zero, sizeof zero);
  return LogSinkPtr(std::make_unique<DatagramSink>(fd, addr, len));
}

}  // namespace

core::Result<LogSinkPtr> make_unix_sink(const std::string& path) {
  sockaddr_storage ss{};
  auto* un = reinterpret_cast<sockaddr_un*>(&ss);
  if (path.empty() || path.size() >= sizeof un->sun_path)
    return core::fail("log socket path '" + path + "' is empty or too long");
  un->sun_family = AF_UNIX;
  std::memcpy(un->sun_path, path.data(), path.size());
  return datagram(AF_UNIX, ss, static_cast<socklen_t>(sizeof(sockaddr_un)), path);
}

core::Result<LogSinkPtr> make_udp_sink(const std::string& ip, uint16_t port) {
  sockaddr_storage ss{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  std::string what = ip + ":" + std::to_string(port);
  // Numeric only: resolving a name here could block; the config layer resolves names.
  if (::inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    return datagram(AF_INET, ss, sizeof(sockaddr_in), what);
  }
  std::string host = ip;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    return datagram(AF_INET6, ss, sizeof(sockaddr_in6), what);
  }
  return core::fail("log target '" + ip + "' is not a numeric IPv4 or IPv6 address");
}

core::Result<LogSinkPtr> make_stream_sink(int fd) {
  if (::isatty(fd)) return LogSinkPtr(std::make_unique<StreamSink>(fd, true));
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) return core::fail_errno("log to fd " + std::to_string(fd), errno);
  if (!(flags & O_NONBLOCK) && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
    return core::fail_errno("log to fd " + std::to_string(fd) + ": O_NONBLOCK", errno);
  return LogSinkPtr(std::make_unique<StreamSink>(fd, false));
}

core::Result<LogSinkPtr> make_sink(const LogTarget& target) {
  switch (target.kind) {
    case LogTarget::Kind::kStdout:
      return make_stream_sink(STDOUT_FILENO);
    case LogTarget::Kind::kStderr:
      return make_stream_sink(STDERR_FILENO);
    case LogTarget::Kind::kUnix:
      return make_unix_sink(target.path);
    case LogTarget::Kind::kUdp:
      return make_udp_sink(target.path, target.port);
  }
  return core::fail("unknown log target kind");
}

core::Result<LogDestination> make_destination(const LogTarget& target) {
  LogDestination d;
  auto framing = framing_from_name(target.format);
  auto facility = facility_from_name(target.facility);
  auto max_level = level_from_name(target.level);
  auto min_level = level_from_name(target.min_level);
  if (!framing) return core::fail("unknown log format '" + target.format + "'");
  if (!facility) return core::fail("unknown syslog facility '" + target.facility + "'");
  if (!max_level || !min_level) return core::fail("unknown log level");
  auto sink = make_sink(target);
  if (!sink) return tl::unexpected(sink.error());
  d.sink = std::move(*sink);
  d.framing = *framing;
  d.facility = *facility;
  d.max_level = *max_level;
  d.min_level = *min_level;
  d.max_length = target.max_length;
  return d;
}

size_t Logger::max_line() const {
  size_t len = 1024;
  for (const auto& d : destinations_) len = std::max(len, d.max_length);
  return len - 1;
}

void Logger::emit(Level level, std::string_view message, const LocalTime& now) {
  for (auto& d : destinations_) {
    auto effective = level_for_target(level, d.max_level, d.min_level);
    if (!effective) continue;
    SyslogHeader h{.framing = d.framing,
                   .facility = d.facility,
                   .level = *effective,
                   .now = now,
                   .tag = tag_,
                   .pid = pid_,
                   .hostname = hostname_};
    d.sink->send(frame(h, message, d.max_length, d.sink->kind()));
  }
}

void Logger::emit(Level level, std::string_view message) {
  emit(level, message, to_local_time(std::chrono::system_clock::now()));
}

}  // namespace tandem::lb::logfmt
