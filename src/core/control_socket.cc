#include "core/control_socket.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <set>

#include <asio/io_context.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include "core/log.h"
#include "core/process.h"

namespace tandem::core {

namespace {

using Socket = asio::local::stream_protocol::socket;
constexpr size_t kMaxPath = sizeof(sockaddr_un{}.sun_path) - 1;
constexpr size_t kMaxDrain = 65536;  // unread input we swallow before closing, see linger()
constexpr const char* kPrompt = "\n> ";

// A descriptor closed on every path out of control_request().
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

}  // namespace

struct ControlServer::Impl : std::enable_shared_from_this<Impl> {
  struct Session {
    explicit Session(asio::io_context& io) : socket(io), idle(io) {}
    Socket socket;
    asio::steady_timer idle;
    std::string in;  // received, not yet handled
    std::string out;
    std::array<char, 4096> buf;
    bool prompt = false;  // interactive: a prompt after each reply, stay open
    bool eof = false;     // the client half-closed
    bool closed = false;
    size_t drained = 0;
  };
  using SessionPtr = std::shared_ptr<Session>;

  asio::io_context& io;
  ControlSocketOptions options;
  ControlHandler handler;
  std::optional<asio::local::stream_protocol::acceptor> acceptor;
  asio::steady_timer accept_retry;
  std::set<SessionPtr> sessions;
  ControlStats stats;
  bool bound = false;
  dev_t dev = 0;  // of the socket file we made, so stop() removes only ours
  ino_t ino = 0;

  Impl(asio::io_context& i, ControlSocketOptions o, ControlHandler h)
      : io(i), options(std::move(o)), handler(std::move(h)), accept_retry(i) {}

  Result<void> start() {
    const std::string& path = options.path;
    if (acceptor) return fail(path + ": control socket already started");
    if (path.empty()) return fail("control socket: empty path");
    if (path.size() > kMaxPath)
      return fail(path + ": control socket path too long (at most " + std::to_string(kMaxPath) +
                  " bytes)");
    if (auto ok = clear_stale(path); !ok) return ok;

    // Bind under a temporary name, set mode and owner, then rename into place: nobody can
    // connect while the permissions are still the umask's, and the swap is atomic.
    std::string tmp = path + "." + std::to_string(getpid()) + ".tmp";
    if (tmp.size() > kMaxPath) tmp = path;
    if (tmp != path) unlink(tmp.c_str());
    std::error_code ec;
    asio::local::stream_protocol::acceptor a(io);
    a.open(asio::local::stream_protocol(), ec);
    if (ec) return fail("cannot create control socket " + path, ec);
    a.bind(asio::local::stream_protocol::endpoint(tmp), ec);
    if (ec) return fail("cannot bind control socket " + path, ec);
    auto undo = [&](Error e) {
      unlink(tmp.c_str());
      return tl::unexpected(std::move(e));
    };
    if (chmod(tmp.c_str(), options.mode) != 0)
      return undo(Error{std::error_code(errno, std::system_category()),
                        "cannot set mode of control socket " + path});
    if (options.owner || options.group) {
      uid_t uid = static_cast<uid_t>(-1);
      gid_t gid = static_cast<gid_t>(-1);
      if (options.owner) {
        auto u = lookup_uid(*options.owner);
        if (!u) return undo(Error{{}, "control socket " + path + ": " + u.error().to_string()});
        uid = *u;
      }
      if (options.group) {
        auto g = lookup_gid(*options.group);
        if (!g) return undo(Error{{}, "control socket " + path + ": " + g.error().to_string()});
        gid = *g;
      }
      if (chown(tmp.c_str(), uid, gid) != 0)
        return undo(Error{std::error_code(errno, std::system_category()),
                          "cannot set owner of control socket " + path});
    }
    a.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return undo(Error{ec, "cannot listen on control socket " + path});
    if (tmp != path && rename(tmp.c_str(), path.c_str()) != 0)
      return undo(Error{std::error_code(errno, std::system_category()),
                        "cannot move control socket into place at " + path});
    struct stat st {};
    if (lstat(path.c_str(), &st) == 0) {
      dev = st.st_dev;
      ino = st.st_ino;
    }
    bound = true;
    acceptor.emplace(std::move(a));
    logger().info("control socket listening on {}", path);
    accept_next();
    return {};
  }

  // A socket file nobody listens on is left by a crash: remove it. A live one or a file of
  // another kind is someone else's.
  static Result<void> clear_stale(const std::string& path) {
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0) {
      if (errno == ENOENT) return {};
      return fail_errno("cannot check control socket path " + path, errno);
    }
    if (!S_ISSOCK(st.st_mode)) return fail(path + " exists and is not a socket; not replacing it");
    Fd probe{socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
    if (probe.fd < 0) return fail_errno("cannot create a socket", errno);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path.copy(addr.sun_path, kMaxPath);
    if (connect(probe.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 ||
        errno == EAGAIN)  // EAGAIN: a full backlog, so someone is there
      return fail("another process is already listening on " + path);
    int err = errno;
    if (err != ECONNREFUSED) return fail_errno("cannot check existing socket " + path, err);
    if (unlink(path.c_str()) != 0 && errno != ENOENT)
      return fail_errno("cannot remove stale control socket " + path, errno);
    logger().info("removed stale control socket {}", path);
    return {};
  }

  void stop() {
    std::error_code ec;
    accept_retry.cancel();
    if (acceptor) {
      acceptor->close(ec);
      acceptor.reset();
    }
    for (const auto& s : std::set<SessionPtr>(sessions)) close(s);
    if (bound) {
      bound = false;
      struct stat st {};
      if (lstat(options.path.c_str(), &st) == 0 && st.st_dev == dev && st.st_ino == ino)
        unlink(options.path.c_str());
    }
  }

  void accept_next() {
    if (!acceptor) return;
    std::weak_ptr<Impl> weak = weak_from_this();
    acceptor->async_accept([weak](std::error_code ec, Socket socket) {
      auto self = weak.lock();
      if (!self || !self->acceptor || ec == asio::error::operation_aborted) return;
      if (ec) {
        // Out of descriptors, say: try again shortly rather than spin.
        logger().warn("control socket {}: accept: {}", self->options.path, ec.message());
        self->accept_retry.expires_after(std::chrono::milliseconds(100));
        self->accept_retry.async_wait([weak](std::error_code e) {
          if (auto s = weak.lock(); s && !e) s->accept_next();
        });
        return;
      }
      self->on_accept(std::move(socket));
      self->accept_next();
    });
  }

  void on_accept(Socket socket) {
    if (sessions.size() >= options.max_clients) {
      ++stats.refused;
      logger().warn("control socket {}: {} clients already connected, refusing one more",
                    options.path, sessions.size());
      std::error_code ec;
      socket.close(ec);
      return;
    }
    ++stats.accepted;
    auto s = std::make_shared<Session>(io);
    s->socket = std::move(socket);
    sessions.insert(s);
    read(s);
  }

  void arm_idle(const SessionPtr& s) {
    if (options.idle_timeout.count() <= 0) return;
    s->idle.expires_after(options.idle_timeout);
    std::weak_ptr<Impl> weak = weak_from_this();
    s->idle.async_wait([weak, s](std::error_code ec) {
      auto self = weak.lock();
      if (!self || ec || s->closed) return;
      ++self->stats.idle_closed;
      self->close(s);
    });
  }

  void read(const SessionPtr& s) {
    arm_idle(s);
    std::weak_ptr<Impl> weak = weak_from_this();
    s->socket.async_read_some(asio::buffer(s->buf), [weak, s](std::error_code ec, size_t n) {
      auto self = weak.lock();
      if (!self || s->closed) return;
      if (ec == asio::error::eof) {
        s->eof = true;
      } else if (ec) {
        return self->close(s);
      } else {
        s->in.append(s->buf.data(), n);
      }
      self->process(s);
    });
  }

  // Handles every complete line buffered, one at a time: a reply is written before the
  // next line is looked at.
  void process(const SessionPtr& s) {
    for (;;) {
      std::string line;
      size_t nl = s->in.find('\n');
      if (nl == std::string::npos) {
        if (s->in.size() > options.max_line) return too_long(s);
        if (!s->eof) return read(s);
        if (s->in.empty()) return close(s);
        line = std::move(s->in);  // a last line without newline, then the client half-closed
        s->in.clear();
      } else {
        line = s->in.substr(0, nl);
        s->in.erase(0, nl + 1);
      }
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.size() > options.max_line) return too_long(s);

      if (line == "quit") return close(s);
      if (line == "prompt") {
        s->prompt = true;
        return write(s, kPrompt, false);
      }
      if (line.empty()) {
        if (s->prompt) return write(s, kPrompt, false);
        return close(s);
      }
      ++stats.commands;
      ControlReply reply;
      try {
        reply = handler(line);
      } catch (const std::exception& e) {
        // A bug in one command must not take the daemon's loop down.
        logger().error("control socket {}: command '{}' failed: {}", options.path, line, e.what());
        reply.text = std::string("error: internal error: ") + e.what() + "\n";
      }
      bool close_after = !s->prompt || reply.close;
      if (!close_after) reply.text += kPrompt;
      return write(s, std::move(reply.text), close_after);
    }
  }

  void too_long(const SessionPtr& s) {
    ++stats.too_long;
    logger().warn("control socket {}: command line longer than {} bytes", options.path,
                  options.max_line);
    write(s, "error: command line too long\n", true);
  }

  void write(const SessionPtr& s, std::string text, bool close_after) {
    s->out = std::move(text);
    arm_idle(s);  // a client that stops reading is idle too
    std::weak_ptr<Impl> weak = weak_from_this();
    asio::async_write(s->socket, asio::buffer(s->out),
                      [weak, s, close_after](std::error_code ec, size_t) {
                        auto self = weak.lock();
                        if (!self || s->closed) return;
                        if (ec) return self->close(s);
                        if (close_after) return self->linger(s);
                        self->process(s);
                      });
  }

  // Ends our side, then reads and drops what the client still sends until it closes too:
  // closing a unix socket with unread input resets the peer, and a client such as socat
  // would report "connection reset" instead of ending quietly.
  void linger(const SessionPtr& s) {
    std::error_code ec;
    s->socket.shutdown(asio::socket_base::shutdown_send, ec);
    if (ec || s->eof) return close(s);
    s->drained += s->in.size();
    s->in.clear();
    if (s->drained > kMaxDrain) return close(s);
    arm_idle(s);
    std::weak_ptr<Impl> weak = weak_from_this();
    s->socket.async_read_some(asio::buffer(s->buf), [weak, s](std::error_code e, size_t n) {
      auto self = weak.lock();
      if (!self || s->closed) return;
      if (e) return self->close(s);
      s->drained += n;
      self->linger(s);
    });
  }

  void close(const SessionPtr& s) {
    if (s->closed) return;
    s->closed = true;
    std::error_code ec;
    s->idle.cancel();
    s->socket.close(ec);
    sessions.erase(s);
  }
};

ControlServer::ControlServer(asio::io_context& io, ControlSocketOptions options,
                             ControlHandler handler)
    : impl_(std::make_shared<Impl>(io, std::move(options), std::move(handler))) {}

ControlServer::~ControlServer() {
  stop();
}

Result<void> ControlServer::start() {
  return impl_->start();
}

void ControlServer::stop() {
  impl_->stop();
}

const std::string& ControlServer::path() const {
  return impl_->options.path;
}

size_t ControlServer::clients() const {
  return impl_->sessions.size();
}

ControlStats ControlServer::stats() const {
  return impl_->stats;
}

Result<std::string> control_request(const std::string& path, std::string_view line,
                                    std::chrono::milliseconds timeout) {
  using SteadyTime = std::chrono::steady_clock;
  if (path.size() > kMaxPath) return fail(path + ": control socket path too long");
  const auto deadline = SteadyTime::now() + timeout;
  auto remaining_ms = [&] {
    // Rounded up: a poll that wakes a hair early would otherwise spin with 0 ms left.
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - SteadyTime::now());
    return static_cast<int>(std::max<int64_t>(0, left.count()));
  };

  Fd sock{socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (sock.fd < 0) return fail_errno("cannot create a socket", errno);
  // A unix connect() waits only when the backlog is full, and honours SO_SNDTIMEO then.
  timeval tv{};
  tv.tv_sec = timeout.count() / 1000;
  tv.tv_usec = (timeout.count() % 1000) * 1000;
  setsockopt(sock.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  path.copy(addr.sun_path, kMaxPath);
  if (connect(sock.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    if (err == ENOENT || err == ECONNREFUSED)
      return fail_errno("is the daemon running? cannot connect to " + path, err);
    return fail_errno("cannot connect to " + path, err);
  }

  std::string request(line);
  request += '\n';
  size_t sent = 0;
  while (sent < request.size()) {
    pollfd p{sock.fd, POLLOUT, 0};
    int rc = poll(&p, 1, remaining_ms());
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return fail_errno("poll", errno);
    if (rc == 0) return fail_errno("cannot send to " + path, ETIMEDOUT);
    ssize_t n =
        send(sock.fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) break;  // it closed: read its answer
    if (n < 0) return fail_errno("cannot send to " + path, errno);
    sent += static_cast<size_t>(n);
  }
  shutdown(sock.fd, SHUT_WR);

  std::string reply;
  std::array<char, 4096> buf;
  for (;;) {
    pollfd p{sock.fd, POLLIN, 0};
    int rc = poll(&p, 1, remaining_ms());
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return fail_errno("poll", errno);
    if (rc == 0)
      return fail_errno(
          "no complete reply from " + path + " within " + std::to_string(timeout.count()) + " ms",
          ETIMEDOUT);
    ssize_t n = recv(sock.fd, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n == 0 || (n < 0 && errno == ECONNRESET)) return reply;
    if (n < 0) return fail_errno("cannot read from " + path, errno);
    reply.append(buf.data(), static_cast<size_t>(n));
  }
}

}  // namespace tandem::core
