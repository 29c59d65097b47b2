#include "app/demo_web.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <map>
#include <vector>

#include <fmt/format.h>

namespace tandem::app::demo {

namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) {
  g_stop = true;
}

constexpr size_t kMaxConnections = 1000;
constexpr size_t kMaxHead = 8192;

struct Conn {
  std::string peer;
  std::string in;
  std::string out;
  size_t written = 0;
};

}  // namespace

int run_web(const WebOptions& options) {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(options.port);
  if (::inet_pton(AF_INET, options.bind.c_str(), &addr.sin_addr) != 1) {
    fmt::print(stderr, "demo-web: bad address '{}'\n", options.bind);
    return 1;
  }
  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (lfd < 0 || ::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(lfd, 512) != 0) {
    fmt::print(stderr, "demo-web {}: cannot listen on {}:{}: {}\n", options.name, options.bind,
               options.port, std::strerror(errno));
    return 1;
  }
  fmt::print(stderr, "demo-web {}: listening on {}:{}\n", options.name, options.bind, options.port);
  std::map<int, Conn> conns;
  uint64_t served = 0;
  while (!g_stop) {
    std::vector<pollfd> fds;
    fds.push_back({lfd, static_cast<short>(conns.size() < kMaxConnections ? POLLIN : 0), 0});
    for (auto& [fd, c] : conns)
      fds.push_back({fd, static_cast<short>(c.out.empty() ? POLLIN : POLLOUT), 0});
    if (::poll(fds.data(), fds.size(), 200) <= 0) continue;
    if (fds[0].revents & POLLIN) {
      sockaddr_in peer{};
      socklen_t len = sizeof peer;
      int fd;
      while ((fd = ::accept4(lfd, reinterpret_cast<sockaddr*>(&peer), &len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        char text[INET_ADDRSTRLEN] = "?";
        ::inet_ntop(AF_INET, &peer.sin_addr, text, sizeof text);
        conns[fd] = Conn{.peer = text};
        len = sizeof peer;
        if (conns.size() >= kMaxConnections) break;
      }
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      auto it = conns.find(fds[i].fd);
      Conn& c = it->second;
      bool close_it = false;
      if (c.out.empty()) {
        char buf[4096];
        ssize_t n = ::recv(it->first, buf, sizeof buf, 0);
        if (n <= 0) {
          close_it = !(n < 0 && errno == EAGAIN);
        } else {
          c.in.append(buf, static_cast<size_t>(n));
          if (c.in.find("\r\n\r\n") != std::string::npos) {
            // One answer per connection; "Connection: close" says so to the proxy.
            std::string body = fmt::format("{} {}\n", options.name, c.peer);
            c.out = fmt::format(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n"
                "Connection: close\r\n\r\n{}",
                body.size(), body);
            ++served;
          } else if (c.in.size() > kMaxHead) {
            close_it = true;
          }
        }
      }
      if (!c.out.empty() && !close_it) {
        ssize_t n =
            ::send(it->first, c.out.data() + c.written, c.out.size() - c.written, MSG_NOSIGNAL);
        if (n > 0) c.written += static_cast<size_t>(n);
        if (n < 0 && errno != EAGAIN) close_it = true;
        if (c.written == c.out.size()) close_it = true;
      }
      if (close_it) {
        ::close(it->first);
        conns.erase(it);
      }
    }
  }
  for (auto& [fd, c] : conns) ::close(fd);
  ::close(lfd);
  fmt::print(stderr, "demo-web {}: stopped after {} answers\n", options.name, served);
  return 0;
}

}  // namespace tandem::app::demo
