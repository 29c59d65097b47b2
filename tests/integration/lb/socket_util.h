// Small blocking-socket helpers shared by the lb integration tests (proxy, smuggling,
// differential): raw clients on loopback with time-outs, so a test never hangs, and a
// reader of whole HTTP messages.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "lb/http1.h"

namespace tandem::lb::netutil {

inline void set_timeouts(int fd, std::chrono::milliseconds t = std::chrono::milliseconds(2000)) {
  timeval tv{static_cast<time_t>(t.count() / 1000),
             static_cast<suseconds_t>((t.count() % 1000) * 1000)};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// A connection to 127.0.0.1:port with 2 s time-outs; -1 when refused.
inline int connect_to(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  set_timeouts(fd);
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

// A listening socket on 127.0.0.1 and a kernel-chosen port, handed to the proxy as fd@N
// (haproxy's reg-tests do the same).
inline int listening_socket() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::listen(fd, 128);
  return fd;
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
