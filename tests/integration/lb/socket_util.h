// Small blocking-socket helpers shared by the lb integration tests (proxy, smuggling,
// differential, request cost): raw clients on loopback with time-outs, so a test never
// hangs, a reader of whole HTTP messages, and a haproxy.cfg loaded from a string.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "core/diagnostic.h"
#include "lb/config.h"
#include "lb/http1.h"

namespace tandem::lb::netutil {

// `text` as a haproxy.cfg, through a file of its own (load_config reads files), which is
// removed again. Diagnostics go to `diags`.
inline Config load_config_text(std::string_view text, core::Diagnostics& diags) {
  static int serial = 0;
  const auto path =
      std::filesystem::temp_directory_path() /
      ("tandem-lb-test-" + std::to_string(::getpid()) + "-" + std::to_string(serial++) + ".cfg");
  {
    std::ofstream f(path);
    f << text;
  }
  Config config = load_config({path.string()}, diags);
  std::filesystem::remove(path);
  return config;
}

inline void set_timeouts(int fd, std::chrono::milliseconds t = std::chrono::milliseconds(2000)) {
  timeval tv{static_cast<time_t>(t.count() / 1000),
             static_cast<suseconds_t>((t.count() % 1000) * 1000)};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// The local port of a bound socket.
inline uint16_t local_port(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

// A connection to 127.0.0.1:port from `src` (any 127/8 address works on loopback; empty:
// the kernel's choice) with time-outs `t`; -1 when refused.
inline int connect_from(const std::string& src, uint16_t port,
                        std::chrono::milliseconds t = std::chrono::milliseconds(3000)) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  set_timeouts(fd, t);
  if (!src.empty()) {
    sockaddr_in s{};
    s.sin_family = AF_INET;
    ::inet_pton(AF_INET, src.c_str(), &s.sin_addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&s), sizeof s) != 0) {
      ::close(fd);
      return -1;
    }
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// A connection to 127.0.0.1:port with 2 s time-outs; -1 when refused.
inline int connect_to(uint16_t port) {
  return connect_from("", port, std::chrono::milliseconds(2000));
}

inline bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Reads until EOF, an error or the time-out of the socket.
inline std::string recv_all(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// A socket bound to 127.0.0.1 and a kernel-chosen port (local_port() tells which), with
// `option` (SO_REUSEADDR, SO_REUSEPORT) set, listening when `listening`.
inline int loopback_socket(int option, bool listening) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, option, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  if (listening) ::listen(fd, 128);
  return fd;
}

// The listening socket of a fake server on loopback.
inline int loopback_listener() {
  return loopback_socket(SO_REUSEADDR, true);
}

// A listening socket handed to the proxy as fd@N (haproxy's reg-tests do the same).
inline int listening_socket() {
  return loopback_socket(SO_REUSEPORT, true);
}

// A port nothing listens on now (bound, then closed): for servers that are down, or a
// listener a proxy binds itself.
inline uint16_t free_port() {
  int fd = loopback_socket(SO_REUSEADDR, false);
  const uint16_t port = local_port(fd);
  ::close(fd);
  return port;
}

struct Message {
  http1::Head head;
  std::string body;
  bool complete = false;
  bool eof = false;  // the peer closed
};

// Reads one HTTP message with our own strict parser; `carry` keeps bytes of the next one.
// Interim (1xx) responses are read past unless `skip_interim` is false.
inline Message read_message(int fd, http1::Mode mode, std::string& carry,
                            std::string_view method = "GET", bool skip_interim = true) {
  http1::Parser p(mode);
  if (mode == http1::Mode::kResponse) p.expect_response_to(method);
  Message m;
  char buf[65536];
  for (;;) {
    if (!carry.empty()) {
      auto pr = p.feed(carry);
      for (auto piece : pr.body) m.body.append(piece);
      if (pr.head_complete) m.head = p.head();
      carry.erase(0, pr.consumed);
      if (pr.failed()) return m;
      if (pr.message_complete) {
        if (skip_interim && m.head.interim()) continue;
        m.complete = true;
        return m;
      }
      if (pr.consumed > 0 && !carry.empty()) continue;
    }
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      m.eof = true;
      auto pr = p.finish();
      for (auto piece : pr.body) m.body.append(piece);
      if (pr.message_complete) m.complete = true;
      return m;
    }
    carry.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace tandem::lb::netutil
