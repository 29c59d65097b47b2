#include "lb/stats/socket_server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <cerrno>
#include <set>

#include <fmt/format.h>

#include "core/log.h"

namespace tandem::lb::stats {
namespace {

using unix_socket = asio::local::stream_protocol;
inline constexpr auto kNothrow = asio::experimental::as_tuple(asio::use_awaitable);

}  // namespace

struct StatsSocketServer::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& io, AdminTarget& t) : acceptor(io), target(t) {}

  unix_socket::acceptor acceptor;
  AdminTarget& target;
  Level level = Level::kOperator;
  Options options;
  std::string path;
  ino_t inode = 0;
  bool stopped = false;
  std::set<std::shared_ptr<unix_socket::socket>> conns;

  asio::awaitable<void> accept_loop() {
    auto self = shared_from_this();
    while (!stopped) {
      auto [ec, sock] = co_await acceptor.async_accept(kNothrow);
      if (ec) {
        if (stopped || ec == asio::error::operation_aborted) break;
        core::logger().warn("stats socket {}: accept failed: {}", path, ec.message());
        asio::steady_timer wait(acceptor.get_executor());
        wait.expires_after(std::chrono::milliseconds(100));
        co_await wait.async_wait(kNothrow);
        continue;
      }
      auto conn = std::make_shared<unix_socket::socket>(std::move(sock));
      conns.insert(conn);
      asio::co_spawn(acceptor.get_executor(), serve(self, conn), asio::detached);
    }
  }

  static asio::awaitable<void> serve(std::shared_ptr<Impl> self,
                                     std::shared_ptr<unix_socket::socket> sock) {
    CliSession cli(self->target, self->level);
    asio::steady_timer idle(sock->get_executor());
    std::string buf;
    char chunk[4096];
    bool eof = false;
    for (;;) {
      size_t nl = buf.find('\n');
      if (nl == std::string::npos && !eof) {
        if (buf.size() > self->options.max_line) break;  // as haproxy: no answer, closed
        // The idle timer closes the socket, which ends the read below.
        idle.expires_after(self->options.idle_timeout);
        idle.async_wait([sock](const std::error_code& ec) {
          if (!ec) {
            std::error_code ignored;
            sock->close(ignored);
          }
        });
        auto [ec, n] = co_await sock->async_read_some(asio::buffer(chunk), kNothrow);
        idle.cancel();
        if (ec) {
          if (ec != asio::error::eof) break;
          eof = true;
        }
        buf.append(chunk, n);
        continue;
      }
      if (nl == std::string::npos && buf.empty()) break;  // end of input
      std::string line = buf.substr(0, nl);
      buf.erase(0, nl == std::string::npos ? buf.size() : nl + 1);
      if (line.size() > self->options.max_line) break;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      CliSession::Reply reply = cli.handle_line(line);
      if (!reply.text.empty()) {
        auto [wec, wn] = co_await asio::async_write(*sock, asio::buffer(reply.text), kNothrow);
        (void)wn;
        if (wec) break;
      }
      if (reply.close) break;
    }
    std::error_code ignored;
    sock->shutdown(unix_socket::socket::shutdown_both, ignored);
    sock->close(ignored);
    self->conns.erase(sock);
  }
};

core::Result<std::unique_ptr<StatsSocketServer>> StatsSocketServer::open(asio::io_context& io,
                                                                         const StatsSocket& config,
                                                                         AdminTarget& target,
                                                                         Options options) {
  const std::string where = config.where.to_string();
  if (config.address.kind != Address::Kind::kUnix) {
    return core::fail(fmt::format("{}: stats socket {}: only unix sockets are served", where,
                                  config.address.to_string()));
  }
  auto level = parse_level(config.level);
  if (!level) {
    return core::fail(fmt::format("{}: stats socket: unknown level '{}'", where, config.level));
  }
  auto impl = std::make_shared<Impl>(io, target);
  impl->level = *level;
  impl->options = options;
  impl->path = config.address.host;
  // Bound beside the final name, then renamed over it: a socket left by an earlier process
  // (or still used by one being replaced) is taken over without a moment without a socket.
  const std::string tmp = fmt::format("{}.{}.tmp", impl->path, ::getpid());
  ::unlink(tmp.c_str());
  std::error_code ec;
  impl->acceptor.open(unix_socket(), ec);
  if (!ec) impl->acceptor.bind(unix_socket::endpoint(tmp), ec);
  if (ec) return core::fail(fmt::format("{}: stats socket {}", where, impl->path), ec);
  const mode_t mode = config.mode.value_or(0600);  // haproxy's default leaves it to umask
  if (::chmod(tmp.c_str(), mode) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return core::fail_errno(fmt::format("{}: stats socket {}: chmod", where, impl->path), err);
  }
  impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec && ::rename(tmp.c_str(), impl->path.c_str()) != 0) {
    ec = std::error_code(errno, std::system_category());
  }
  if (ec) {
    ::unlink(tmp.c_str());
    return core::fail(fmt::format("{}: stats socket {}", where, impl->path), ec);
  }
  struct stat st {};
  if (::stat(impl->path.c_str(), &st) == 0) impl->inode = st.st_ino;
  return std::unique_ptr<StatsSocketServer>(new StatsSocketServer(std::move(impl)));
}

StatsSocketServer::StatsSocketServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

StatsSocketServer::~StatsSocketServer() {
  stop();
}

void StatsSocketServer::start() {
  asio::co_spawn(impl_->acceptor.get_executor(), impl_->accept_loop(), asio::detached);
}

void StatsSocketServer::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  std::error_code ignored;
  impl_->acceptor.close(ignored);
  for (const auto& c : std::set(impl_->conns)) c->close(ignored);
  // Only our own file: a newer process may have renamed its socket over it meanwhile.
  struct stat st {};
  if (::stat(impl_->path.c_str(), &st) == 0 && st.st_ino == impl_->inode) {
    ::unlink(impl_->path.c_str());
  }
}

const std::string& StatsSocketServer::path() const {
  return impl_->path;
}

}  // namespace tandem::lb::stats
