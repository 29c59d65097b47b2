// Request smuggling through the running proxy: raw requests go to an in-process tandem-lb
// (mode http) in front of an upstream that records every byte it receives. Each row of the
// table says what the client must get (statuses, close) and what the upstream may see.
//
// The statuses are tandem-lb's documented answers (the table at the top of src/lb/http1.cc,
// measured against haproxy 2.6); where haproxy 2.6 answers otherwise the row says so.
// A reject must reach no upstream at all: the proxy connects to a server only after a whole
// head passed the framer, and body errors in the same read are caught before that too.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "../socket_util.h"
#include "core/diagnostic.h"
#include "lb/config.h"
#include "lb/http1.h"
#include "lb/proxy/proxy.h"

namespace tandem::lb::proxy {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;
using R = http1::RejectReason;
using namespace netutil;

// ---- reading answers ----

using Response = Message;

// One response as it comes (a 1xx is an answer of its own here); `carry` keeps what follows.
Response read_response(int fd, std::string& carry) {
  return read_message(fd, http1::Mode::kResponse, carry, "GET", /*skip_interim=*/false);
}

enum class After : uint8_t { kClosed, kOpen, kTimeout };

// What the connection does next: closes (EOF or reset), stays open and quiet for `quiet`, or
// sends more bytes (returned in `extra`).
After after_answers(int fd, std::chrono::milliseconds quiet, std::string& extra) {
  pollfd p{fd, POLLIN, 0};
  int r = ::poll(&p, 1, static_cast<int>(quiet.count()));
  if (r == 0) return After::kOpen;
  char buf[4096];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  if (n > 0) {
    extra.assign(buf, static_cast<size_t>(n));
    return After::kOpen;
  }
  return n == 0 || errno == ECONNRESET ? After::kClosed : After::kTimeout;
}

// ---- the recording upstream ----

// What one upstream connection received: every raw byte, and the requests a strict parser
// found in them. Anything the parser refuses, or bytes after the last whole request, would
// be what a smuggling attack leaves behind.
struct UpstreamConn {
  std::string raw;
  std::vector<http1::Head> heads;
  std::vector<std::string> bodies;
  int complete = 0;
  R error = R::kNone;
  std::string leftover;  // bytes no request could take (after a closing request, say)
  bool eof = false;
};

class RecordingUpstream {
 public:
  RecordingUpstream() {
    fd_ = loopback_listener();
    port_ = local_port(fd_);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~RecordingUpstream() { finish(); }

  // Ends every connection and waits for the readers; idempotent. Call after the proxy
  // stopped, so that the records hold everything it ever sent.
  void finish() {
    if (finished_.exchange(true)) return;
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    acceptor_.join();
    ::close(fd_);
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mu_);
      for (int c : fds_) ::shutdown(c, SHUT_RD);
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
    for (int c : fds_) ::close(c);
  }

  uint16_t port() const { return port_; }
  int accepted() const { return accepted_.load(); }
  // Replaces the canned "200 ok" answer; set before the proxy starts.
  void set_answer(std::function<std::string(const http1::Head&)> answer) {
    answer_ = std::move(answer);
  }
  std::vector<UpstreamConn> conns() {
    std::lock_guard lock(mu_);
    return conns_;
  }

 private:
  void accept_loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      ++accepted_;
      set_timeouts(c, 3000ms);
      std::lock_guard lock(mu_);
      size_t index = conns_.size();
      conns_.emplace_back();
      fds_.push_back(c);
      threads_.emplace_back([this, c, index] { serve(c, index); });
    }
  }

  void serve(int fd, size_t index) {
    http1::Parser parser(http1::Mode::kRequest);
    UpstreamConn rec;
    std::string carry;
    char buf[65536];
    bool parsing = true;
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) {
        rec.eof = n == 0;
        break;
      }
      rec.raw.append(buf, static_cast<size_t>(n));
      if (!parsing) {
        rec.leftover.append(buf, static_cast<size_t>(n));
        continue;
      }
      carry.append(buf, static_cast<size_t>(n));
      while (!carry.empty() && parsing) {
        http1::Progress pr = parser.feed(carry);
        if (pr.head_complete) {
          rec.heads.push_back(parser.head());
          rec.bodies.emplace_back();
        }
        for (std::string_view piece : pr.body) rec.bodies.back().append(piece);
        carry.erase(0, pr.consumed);
        if (pr.failed()) {
          rec.error = pr.error;
          parsing = false;
          break;
        }
        if (pr.message_complete) {
          ++rec.complete;
          const bool close = !parser.head().keep_alive;
          if (answer_) {
            send_all(fd, answer_(parser.head()));
          } else {
            send_all(fd, close
                             ? "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                             : "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
          }
          if (parser.state() != http1::Parser::State::kIdle) parsing = false;
          continue;
        }
        if (pr.consumed == 0) break;
      }
      if (!parsing) {
        rec.leftover += carry;
        carry.clear();
      }
    }
    rec.leftover += carry;
    std::lock_guard lock(mu_);
    conns_[index] = std::move(rec);
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> finished_{false};
  std::atomic<int> accepted_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> threads_;
  std::vector<int> fds_;
  std::vector<UpstreamConn> conns_;
  std::function<std::string(const http1::Head&)> answer_;
};

// ---- the proxy ----

struct Case;

class ProxyFixture : public ::testing::Test {
 protected:
  void check(const Case& c);
  void start_proxy() {
    int lfd = listening_socket();
    std::string text =
        "defaults\n  mode http\n  timeout connect 500ms\n  timeout client 2s\n"
        "  timeout server 2s\n  timeout http-request 1s\n"
        "frontend fe\n  bind fd@" +
        std::to_string(lfd) +
        "\n  default_backend be\n"
        "backend be\n  server s1 127.0.0.1:" +
        std::to_string(upstream_.port()) + "\n";
    core::Diagnostics diags;
    config_ = load_config_text(text, diags);
    ASSERT_FALSE(diags.has_errors()) << diags.to_string();
    RuntimeOptions o;
    o.threads = 1;
    o.grace = 200ms;
    auto rt = Runtime::create(config_, o);
    ::close(lfd);
    ASSERT_TRUE(rt.has_value()) << rt.error().to_string();
    rt_ = std::move(*rt);
    rt_->start();
    port_ = rt_->port_of("fe");
    ASSERT_NE(port_, 0);
  }
  // Stops the proxy and the upstream: after this the upstream's records are final.
  void stop_all() {
    if (rt_ && !stopped_) {
      stopped_ = true;
      rt_->stop_now();
      rt_->join();
    }
    upstream_.finish();
  }
  void TearDown() override { stop_all(); }

  uint64_t rejected(R reason) {
    return rt_->snapshot().find("fe")->frontend.rejected[static_cast<size_t>(reason)];
  }
  uint64_t rejected_total() {
    auto snap = rt_->snapshot();
    uint64_t total = 0;
    const auto& r = snap.find("fe")->frontend.rejected;
    for (size_t i = 1; i < r.size(); ++i) total += r[i];
    return total;
  }

  RecordingUpstream upstream_;
  Config config_;
  std::unique_ptr<Runtime> rt_;
  bool stopped_ = false;
  uint16_t port_ = 0;
};

// ---- the table ----

struct Case {
  std::string name;
  std::string raw;
  std::vector<int> statuses;  // every answer the client gets, in order
  R reason;                   // the reject counted (kNone: nothing rejected)
  bool closed;                // the proxy closes the client connection after the answers
  // The request targets the upstream must receive, in order; empty: no connection at all.
  std::vector<std::string> upstream_targets;
  std::string upstream_body = {};  // the first upstream request's (de-chunked) body
};

// gtest names a failing row by its name rather than by its bytes.
void PrintTo(const Case& c, std::ostream* os) {
  *os << c.name;
}

std::string post(const std::string& headers, const std::string& body,
                 const std::string& line = "POST / HTTP/1.1") {
  return line + "\r\nHost: a\r\n" + headers + "\r\n" + body;
}
std::string many(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += "X-H" + std::to_string(i) + ": v\r\n";
  return s;
}
const std::string kTe = "Transfer-Encoding: chunked\r\n";
// A reject whose reason has no counter of its own yet (rows of known bugs).
constexpr R kSomeReason = R::kCount_;
// The request an attacker hides behind the first one.
const std::string kSmuggled = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";

std::string hex_size(const std::string& data) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%zx", data.size());
  return buf;
}

// A reject: one answer, connection closed, the upstream never contacted.
Case reject(std::string name, std::string raw, int status, R reason) {
  return Case{std::move(name), std::move(raw), {status}, reason, true, {}};
}
// A request forwarded as one well-framed request; the connection stays open.
Case forward(std::string name, std::string raw, std::string body = "") {
  return Case{std::move(name), std::move(raw), {200}, R::kNone, false, {"/"}, std::move(body)};
}

std::vector<Case> cases() {
  std::vector<Case> c = {
      // CL.TE and TE.CL: both headers is a reject, whatever the order and values.
      // (haproxy 2.6 forwards these with the Content-Length dropped, then closes.)
      reject("cl_te", post("Content-Length: 6\r\n" + kTe, "0\r\n\r\nG"), 400, R::kClAndTe),
      reject("cl_te_smuggled_get", post("Content-Length: 40\r\n" + kTe, "0\r\n\r\n" + kSmuggled),
             400, R::kClAndTe),
      reject("te_cl",
             post(kTe + "Content-Length: 4\r\n",
                  hex_size(kSmuggled) + "\r\n" + kSmuggled + "\r\n0\r\n\r\n"),
             400, R::kClAndTe),
      reject("te_cl_zero", post(kTe + "Content-Length: 0\r\n", "0\r\n\r\n"), 400, R::kClAndTe),
      reject("te_identity_then_cl",
             post("Transfer-Encoding: identity\r\nContent-Length: 5\r\n", "hello"), 400,
             R::kClAndTe),
      // TE.TE: obfuscated Transfer-Encoding values and names.
      reject("te_xchunked", post("Transfer-Encoding: xchunked\r\n", "0\r\n\r\n"), 400,
             R::kBadTransferEncoding),
      reject("te_xchunked_with_cl",
             post("Transfer-Encoding: xchunked\r\nContent-Length: 5\r\n", "hello"), 400,
             R::kClAndTe),
      reject("te_chunked_identity", post("Transfer-Encoding: chunked, identity\r\n", "0\r\n\r\n"),
             400, R::kBadTransferEncoding),
      reject("te_chunked_chunked", post("Transfer-Encoding: chunked, chunked\r\n", "0\r\n\r\n"),
             400, R::kBadTransferEncoding),
      reject("te_twice", post(kTe + kTe, "0\r\n\r\n"), 400, R::kBadTransferEncoding),
      reject("te_chunked_then_identity", post(kTe + "Transfer-Encoding: identity\r\n", "0\r\n\r\n"),
             400, R::kBadTransferEncoding),
      // haproxy 2.6: forwards (llhttp refuses the empty element)
      reject("te_chunked_trailing_comma", post("Transfer-Encoding: chunked,\r\n", "0\r\n\r\n"), 400,
             R::kBadTransferEncoding),
      reject("te_quoted", post("Transfer-Encoding: \"chunked\"\r\n", "0\r\n\r\n"), 400,
             R::kBadTransferEncoding),
      reject("te_gzip_chunked", post("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n"), 422,
             R::kUnsupportedTransferCoding),
      reject("te_space_before_colon", post("Transfer-Encoding : chunked\r\n", "0\r\n\r\n"), 400,
             R::kSpaceBeforeColon),
      reject("te_tab_before_colon", post("Transfer-Encoding\t: chunked\r\n", "0\r\n\r\n"), 400,
             R::kSpaceBeforeColon),
      // A header line that starts with a space is obs-fold (haproxy 2.6 unfolds and forwards).
      reject("te_name_leading_space",
             post("X-A: 1\r\n Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "hello"), 400,
             R::kObsFold),
      reject("te_obs_fold_value", post("Transfer-Encoding:\r\n chunked\r\n", "0\r\n\r\n"), 400,
             R::kObsFold),
      reject("te_cr_in_name", post("Transfer-Encoding\r: chunked\r\n", "0\r\n\r\n"), 400,
             R::kBadHeaderName),
      // haproxy 2.6: 200, Content-Length dropped
      reject("cl_te_in_http10", post("Content-Length: 5\r\n" + kTe, "0\r\n\r\n", "POST / HTTP/1.0"),
             400, R::kClAndTe),
      // Content-Length: one plain decimal, once.
      // haproxy 2.6: 200 (merges equal values)
      reject("cl_twice_same", post("Content-Length: 5\r\nContent-Length: 5\r\n", "hello"), 400,
             R::kConflictingContentLength),
      reject("cl_twice_different", post("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!"),
             400, R::kConflictingContentLength),
      reject("cl_list", post("Content-Length: 5, 6\r\n", "hello!"), 400, R::kBadContentLength),
      reject("cl_plus_sign", post("Content-Length: +5\r\n", "hello"), 400, R::kBadContentLength),
      reject("cl_minus_sign", post("Content-Length: -1\r\n", ""), 400, R::kBadContentLength),
      reject("cl_space_inside", post("Content-Length: 5 5\r\n", "hello"), 400,
             R::kBadContentLength),
      reject("cl_hex", post("Content-Length: 0x5\r\n", "hello"), 400, R::kBadContentLength),
      reject("cl_overflow", post("Content-Length: 99999999999999999999999\r\n", ""), 400,
             R::kBadContentLength),
      reject("cl_empty", post("Content-Length: \r\n", ""), 400, R::kBadContentLength),
      reject("cl_space_before_colon", post("Content-Length : 5\r\n", "hello"), 400,
             R::kSpaceBeforeColon),
      // Chunk framing.
      reject("chunk_size_20_hex_digits", post(kTe, "ffffffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
             400, R::kBadChunk),
      reject("chunk_size_2_pow_64_plus_5", post(kTe, "10000000000000005\r\nhello\r\n0\r\n\r\n"),
             400, R::kBadChunk),
      reject("chunk_size_negative", post(kTe, "-5\r\nhello\r\n0\r\n\r\n"), 400, R::kBadChunk),
      reject("chunk_size_0x", post(kTe, "0x5\r\nhello\r\n0\r\n\r\n"), 400, R::kBadChunk),
      // haproxy 2.6: 200 for bare LF in chunk lines
      reject("chunk_ext_bare_lf", post(kTe, "5;a=b\nhello\r\n0\r\n\r\n"), 400, R::kBareLf),
      reject("chunk_size_bare_lf", post(kTe, "5\nhello\r\n0\r\n\r\n"), 400, R::kBareLf),
      reject("chunk_data_bare_lf", post(kTe, "5\r\nhello\n0\r\n\r\n"), 400, R::kBareLf),
      reject("chunk_last_bare_lf_smuggled", post(kTe, "5\r\nhello\r\n0\n\n" + kSmuggled), 400,
             R::kBareLf),
      reject("chunk_size_bare_cr", post(kTe, "5\rXhello\r\n0\r\n\r\n"), 400, R::kBareCr),
      reject("chunk_data_longer_than_size", post(kTe, "3\r\nhello\r\n0\r\n\r\n"), 400,
             R::kBadChunk),
      reject("chunk_ext_nul", post(kTe, "5;a\0b\r\nhello\r\n0\r\n\r\n"s), 400, R::kNul),
      // haproxy 2.6: 200
      reject("chunk_ext_over_4_kb",
             post(kTe, "5;" + std::string(5000, 'a') + "\r\nhello\r\n0\r\n\r\n"), 400,
             R::kBadChunk),
      reject("chunk_trailer_obs_fold", post(kTe, "0\r\nX: 1\r\n 2\r\n\r\n"), 400, R::kObsFold),
      // Head bytes.
      // haproxy 2.6: 200 (RFC 9112 2.2 lets a server accept it)
      reject("bare_lf_head", "GET / HTTP/1.1\nHost: a\n\n", 400, R::kBareLf),
      reject("bare_cr_in_value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400, R::kBareCr),
      reject("bare_cr_line_end", "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400, R::kBareCr),
      reject("obs_fold", "GET / HTTP/1.1\r\nHost: a\r\nX-Foo: a\r\n b\r\n\r\n", 400, R::kObsFold),
      // haproxy 2.6: forwards the NUL
      reject("nul_in_value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"s, 400, R::kNul),
      reject("nul_in_name", "GET / HTTP/1.1\r\nHost: a\r\nX\0: ab\r\n\r\n"s, 400, R::kNul),
      reject("space_before_colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, R::kSpaceBeforeColon),
      // Sizes: tune.bufsize 16384 less tune.maxrewrite 1024, and tune.http.maxhdr 101.
      reject("head_over_bufsize",
             "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(16500, 'a') + "\r\n\r\n", 400,
             R::kHeadTooLarge),
      reject("too_many_headers", "GET / HTTP/1.1\r\nHost: a\r\n" + many(100) + "\r\n", 400,
             R::kTooManyHeaders),
      reject("request_line_too_long",
             "GET /" + std::string(20000, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n", 400,
             R::kHeadTooLarge),
      // Host.
      // haproxy 2.6: forwards; RFC 9112 3.2 says 400
      reject("http11_without_host", "GET / HTTP/1.1\r\n\r\n", 400, R::kMissingHost),
      // haproxy 2.6: forwards
      reject("absolute_form_without_host", "GET http://evil/x HTTP/1.1\r\n\r\n", 400,
             R::kMissingHost),
      reject("two_hosts_different", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400,
             R::kDuplicateHost),
      // haproxy 2.6: 200
      reject("two_hosts_same", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400,
             R::kDuplicateHost),
      // Request line.
      reject("method_bad_char", "G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, R::kBadRequestLine),
      // haproxy 2.6: forwarded (llhttp knows a fixed set of methods)
      reject("method_unknown", "FOO / HTTP/1.1\r\nHost: a\r\n\r\n", 501, R::kUnsupportedMethod),
      reject("http09", "GET /\r\n\r\n", 400, R::kBadRequestLine),
      // haproxy 2.6: 200, served as 1.1
      reject("version_20", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, R::kUnsupportedVersion),
      reject("nul_in_uri", "GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n"s, 400, R::kNul),

      // Forwarded: each reaches the upstream as exactly one well-framed request.
      forward("ok_content_length", post("Content-Length: 5\r\n", "hello"), "hello"),
      forward("ok_chunked", post(kTe, "5\r\nhello\r\n0\r\n\r\n"), "hello"),
      forward("ok_te_upper_case", post("Transfer-Encoding: CHUNKED\r\n", "5\r\nhello\r\n0\r\n\r\n"),
              "hello"),
      forward("ok_te_value_extra_spaces",
              post("Transfer-Encoding:  chunked \r\n", "5\r\nhello\r\n0\r\n\r\n"), "hello"),
      forward("ok_cl_leading_zeros", post("Content-Length: 0005\r\n", "hello"), "hello"),
      forward("ok_chunk_extension", post(kTe, "5;foo=bar\r\nhello\r\n0\r\n\r\n"), "hello"),
      forward("ok_chunk_size_upper_hex_leading_zeros", post(kTe, "000A\r\nhellohello\r\n0\r\n\r\n"),
              "hellohello"),
      forward("ok_chunked_with_a_trailer", post(kTe, "5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"), "hello"),
      forward("ok_get_with_a_chunked_body", post(kTe, "5\r\nhello\r\n0\r\n\r\n", "GET / HTTP/1.1"),
              "hello"),
      // A request hidden in a body stays body, whatever the framing.
      forward("smuggled_in_cl_body",
              post("Content-Length: " + std::to_string(kSmuggled.size()) + "\r\n", kSmuggled),
              kSmuggled),
      forward("smuggled_in_chunk_data",
              post(kTe, hex_size("0\r\n\r\n" + kSmuggled) + "\r\n0\r\n\r\n" + kSmuggled +
                            "\r\n0\r\n\r\n"),
              "0\r\n\r\n" + kSmuggled),
      forward("ok_head_near_bufsize",
              "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(15000, 'a') + "\r\n\r\n"),
      forward("ok_100_header_lines", "GET / HTTP/1.1\r\nHost: a\r\n" + many(99) + "\r\n"),
      forward("absolute_form_same_host", "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n"),
  };
  // The upstream sees the absolute form as sent.
  c.back().upstream_targets = {"http://a/"};
  // Pipelining: what follows a well-framed body is a request of its own, seen as such by
  // the proxy and the upstream alike.
  c.push_back(Case{"pipelined_after_chunked",
                   post(kTe, "0\r\n\r\n" + kSmuggled),
                   {200, 200},
                   R::kNone,
                   false,
                   {"/", "/smuggled"}});
  c.push_back(Case{"pipelined_after_cl",
                   post("Content-Length: 5\r\n", "hello" + kSmuggled),
                   {200, 200},
                   R::kNone,
                   false,
                   {"/", "/smuggled"},
                   "hello"});
  // Junk after a body is the next "request": 400 and close, the first one served.
  c.push_back(Case{"junk_after_cl_body",
                   post("Content-Length: 5\r\n", "helloXYZ\r\n\r\n"),
                   {200, 400},
                   R::kBadRequestLine,
                   true,
                   {"/"},
                   "hello"});
  // Transfer-Encoding in HTTP/1.0: served, then closed (RFC 9112 6.1); what follows the
  // chunked body must never reach the upstream.
  c.push_back(Case{"te_in_http10",
                   post(kTe, "5\r\nhello\r\n0\r\n\r\n" + kSmuggled, "POST / HTTP/1.0"),
                   {200},
                   R::kNone,
                   true,
                   {"/"},
                   "hello"});
  // A request that says close ends the connection: what follows is never read.
  c.push_back(Case{"connection_close_then_smuggled",
                   "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" + kSmuggled,
                   {200},
                   R::kNone,
                   true,
                   {"/"}});
  c.push_back(Case{"http10_keep_alive_pipelined",
                   "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + kSmuggled,
                   {200, 200},
                   R::kNone,
                   false,
                   {"/", "/smuggled"}});
  // A Connection header may not name the framing or Host away (haproxy 2.6 keeps both;
  // tandem-lb dropped them before bb7bb91, and the body then reached the upstream as a
  // request of its own).
  c.push_back(Case{"connection_names_content_length",
                   post("Connection: Content-Length\r\nContent-Length: " +
                            std::to_string(kSmuggled.size()) + "\r\n",
                        kSmuggled),
                   {200},
                   R::kNone,
                   false,
                   {"/"},
                   kSmuggled});
  c.push_back(Case{"connection_names_host",
                   "GET / HTTP/1.1\r\nHost: a\r\nConnection: Host\r\n\r\n",
                   {200},
                   R::kNone,
                   false,
                   {"/"}});
  c.push_back(Case{"http10_without_host", "GET / HTTP/1.0\r\n\r\n", {200}, R::kNone, true, {"/"}});
  // A leading empty element: a server may split ",chunked" otherwise and not see chunked.
  // haproxy 2.6: 422.
  c.push_back(reject("te_leading_comma", post("Transfer-Encoding: ,chunked\r\n", "0\r\n\r\n"), 400,
                     R::kBadTransferEncoding));
  // Framing fields in trailers: a server that merges trailers into the head would see a
  // second framing. haproxy 2.6: 400.
  c.push_back(reject("te_in_trailers", post(kTe, "5\r\nhello\r\n0\r\nTransfer-Encoding: x\r\n\r\n"),
                     400, R::kFramingTrailer));
  // Absolute-form whose authority is not Host: the server (RFC 9112 3.2.2: the target's
  // authority wins) and Host-based rules would disagree on the site. haproxy 2.6: 400.
  c.push_back(reject("absolute_form_other_host", "GET http://evil/x HTTP/1.1\r\nHost: good\r\n\r\n",
                     400, R::kHostMismatch));
  return c;
}

class Smuggling : public ProxyFixture, public ::testing::WithParamInterface<Case> {};

// Sends one row's bytes and checks everything the row says.
void ProxyFixture::check(const Case& c) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  // One write: the whole case reaches the proxy in one read on loopback.
  ASSERT_TRUE(send_all(fd, c.raw));
  std::string carry;
  for (size_t i = 0; i < c.statuses.size(); ++i) {
    Response r = read_response(fd, carry);
    ASSERT_TRUE(r.complete) << "answer " << i << " incomplete";
    EXPECT_EQ(r.head.status, c.statuses[i]) << "answer " << i;
    if (c.closed && i + 1 == c.statuses.size()) {
      EXPECT_FALSE(r.head.keep_alive) << "the last answer must say Connection: close";
    }
  }
  std::string extra = carry;
  After after = carry.empty() ? after_answers(fd, c.closed ? 2000ms : 150ms, extra) : After::kOpen;
  EXPECT_EQ(extra, "") << "bytes after the expected answers";
  if (c.closed) {
    EXPECT_EQ(after, After::kClosed) << "framing in doubt: the proxy must close";
  } else {
    EXPECT_EQ(after, After::kOpen) << "a well-framed exchange keeps the connection";
  }
  ::close(fd);

  // Counters, then the proxy stops so that the upstream's record is complete.
  if (c.reason != R::kNone && c.reason != kSomeReason) {
    EXPECT_EQ(rejected(c.reason), 1u) << http1::reject_name(c.reason);
  }
  EXPECT_EQ(rejected_total(), c.reason == R::kNone ? 0u : 1u);
  stop_all();

  auto conns = upstream_.conns();
  if (c.upstream_targets.empty()) {
    EXPECT_EQ(upstream_.accepted(), 0) << "a rejected request reached the upstream";
    for (const auto& u : conns) EXPECT_EQ(u.raw, "");
    return;
  }
  std::vector<std::string> targets;
  std::vector<std::string> bodies;
  for (const auto& u : conns) {
    EXPECT_EQ(u.error, R::kNone) << "the upstream got a request it cannot parse: " << u.raw;
    EXPECT_EQ(u.leftover, "") << "bytes outside any request reached the upstream";
    EXPECT_EQ(static_cast<size_t>(u.complete), u.heads.size()) << "an unfinished request";
    for (const auto& h : u.heads) targets.push_back(h.target);
    bodies.insert(bodies.end(), u.bodies.begin(), u.bodies.end());
  }
  EXPECT_EQ(targets, c.upstream_targets);
  if (!bodies.empty()) {
    EXPECT_EQ(bodies.front(), c.upstream_body);
  }
}

TEST_P(Smuggling, ThroughTheProxy) {
  check(GetParam());
}

INSTANTIATE_TEST_SUITE_P(smuggling, Smuggling, ::testing::ValuesIn(cases()),
                         [](const auto& param_info) { return param_info.param.name; });

using smuggling = ProxyFixture;

TEST(smuggling_table, AtLeastFortyCasesAndUniqueNames) {
  auto all = cases();
  int rejects = 0;
  std::vector<std::string> names;
  for (const auto& c : all) {
    rejects += c.reason != R::kNone ? 1 : 0;
    names.push_back(c.name);
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end());
  EXPECT_GE(all.size(), 40u);
  EXPECT_GE(rejects, 40);
}

// After a rejected request nothing else on that connection is read: a second request sent
// later on the same connection reaches no one.
TEST_F(smuggling, NothingIsReadAfterAReject) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, post("Content-Length: 3\r\n" + kTe, "0\r\n\r\n")));
  std::string carry;
  Response r = read_response(fd, carry);
  EXPECT_EQ(r.head.status, 400);
  send_all(fd, kSmuggled);  // may fail: the proxy closed
  std::string extra;
  EXPECT_EQ(after_answers(fd, 2000ms, extra), After::kClosed);
  EXPECT_EQ(extra, "");
  ::close(fd);
  stop_all();
  EXPECT_EQ(upstream_.accepted(), 0);
}

// The same CL.TE request byte by byte: a slow client must not get through where a fast one
// does not.
TEST_F(smuggling, ClTeSentByteByByteIsRejectedToo) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  const std::string raw = post("Content-Length: 40\r\n" + kTe, "0\r\n\r\n" + kSmuggled);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  for (char ch : raw) {
    if (!send_all(fd, std::string_view(&ch, 1))) break;  // closed once the head is refused
  }
  std::string carry;
  Response r = read_response(fd, carry);
  EXPECT_EQ(r.head.status, 400);
  ::close(fd);
  stop_all();
  EXPECT_EQ(upstream_.accepted(), 0);
}

// A chunked body that goes bad after the head was forwarded: the upstream has the head and
// maybe some data but never a whole request, and its connection is closed, so it cannot
// take the rest for a request of its own.
TEST_F(smuggling, BadChunkAfterTheHeadNeverCompletesUpstream) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, post(kTe, "5\r\nhello\r\n")));
  // Wait (bounded) until the head is at the upstream, then send the bad rest.
  for (int i = 0; i < 400 && upstream_.accepted() == 0; ++i) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(upstream_.accepted(), 1);
  std::this_thread::sleep_for(50ms);  // let the first chunk go through on its own
  send_all(fd, "zz\r\n" + kSmuggled);
  std::string carry;
  Response r = read_response(fd, carry);
  EXPECT_TRUE(r.complete);
  EXPECT_GE(r.head.status, 400);
  EXPECT_FALSE(r.head.keep_alive);
  std::string extra;
  EXPECT_EQ(after_answers(fd, 2000ms, extra), After::kClosed);
  ::close(fd);
  stop_all();
  auto conns = upstream_.conns();
  ASSERT_EQ(conns.size(), 1u);
  EXPECT_EQ(conns[0].complete, 0) << conns[0].raw;
  EXPECT_TRUE(conns[0].eof);
  EXPECT_EQ(conns[0].raw.find("smuggled"), std::string::npos) << conns[0].raw;
}

// Response-side desync: an upstream that sends two answers to one request. The second
// must die with that server connection, never answer the client's next request.
TEST_F(smuggling, ExtraResponseBytesNeverAnswerTheNextRequest) {
  upstream_.set_answer([](const http1::Head&) {
    return std::string(
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst"
        "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged");
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  std::string carry;
  ASSERT_TRUE(send_all(fd, "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"));
  Response one = read_response(fd, carry);
  EXPECT_EQ(one.body, "first");
  ASSERT_TRUE(send_all(fd, "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n"));
  Response two = read_response(fd, carry);
  EXPECT_EQ(two.body, "first") << "the second request got the forged answer";
  ::close(fd);
  stop_all();
  // Each request went on a connection of its own: the tainted one was not reused.
  EXPECT_EQ(upstream_.accepted(), 2);
}

// The same with a body after an answer to HEAD, which has none by definition.
TEST_F(smuggling, BodyAfterAHeadAnswerIsNotTheNextAnswer) {
  upstream_.set_answer([](const http1::Head& h) {
    if (h.method == "HEAD") {
      return std::string(
          "HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n"
          "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nbad");
    }
    return std::string("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ngood");
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n"));
  // Read the HEAD answer's head only (our reader assumes GET): up to the empty line.
  std::string got;
  char buf[4096];
  while (got.find("\r\n\r\n") == std::string::npos) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    ASSERT_GT(n, 0);
    got.append(buf, static_cast<size_t>(n));
  }
  std::string carry = got.substr(got.find("\r\n\r\n") + 4);
  EXPECT_EQ(carry, "") << "a body came after the answer to HEAD";
  ASSERT_TRUE(send_all(fd, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
  Response next = read_response(fd, carry);
  EXPECT_EQ(next.body, "good");
  ::close(fd);
}

// ---- the same rows through Debian's haproxy 2.6 ----

// haproxy -db on a config file, output to a file; killed by pid, and with the test.
class Haproxy {
 public:
  static constexpr const char* kPath = "/usr/sbin/haproxy";
  Haproxy(const std::string& cfg_path, const std::string& log_path) {
    std::vector<std::string> argv = {kPath, "-db", "-f", cfg_path};
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    int out = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {  // only async-signal-safe calls from here: the test runs threads
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      ::dup2(out, 1);
      ::dup2(out, 2);
      ::execv(cargv[0], cargv.data());
      ::_exit(127);
    }
    ::close(out);
  }
  ~Haproxy() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int st = 0;
    for (int i = 0; i < 200; ++i) {
      if (::waitpid(pid_, &st, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(5ms);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &st, 0);
  }
  Haproxy(const Haproxy&) = delete;
  Haproxy& operator=(const Haproxy&) = delete;

 private:
  pid_t pid_ = -1;
};

// Every row also goes to haproxy 2.6 with the same defaults: wherever haproxy refuses a
// request, tandem-lb must refuse it too (it may be stricter, never laxer). The rows where
// the two differ are printed, as the table in src/lb/http1.cc lists them. (The row
// notes "haproxy 2.6: ..." above come from this test's output.)
TEST(smuggling_vs_haproxy, NeverLaxerThanHaproxy26) {
  if (::access(Haproxy::kPath, X_OK) != 0) {
    GTEST_SKIP() << Haproxy::kPath << " is not installed (scripts/install-deps installs it)";
  }
  RecordingUpstream upstream;
  const uint16_t port = free_port();
  const std::string base = (std::filesystem::temp_directory_path() /
                            ("tandem-smuggling-haproxy-" + std::to_string(::getpid())))
                               .string();
  {
    std::ofstream f(base + ".cfg");
    f << "global\n  nbthread 1\ndefaults\n  mode http\n  timeout connect 500ms\n"
         "  timeout client 2s\n  timeout server 300ms\n  timeout http-request 1s\n"
         "frontend fe\n  bind 127.0.0.1:"
      << port << "\n  default_backend be\nbackend be\n  server s1 127.0.0.1:" << upstream.port()
      << "\n";
  }
  std::string differ;
  {
    Haproxy haproxy(base + ".cfg", base + ".log");
    int probe = -1;
    for (int i = 0; i < 300 && probe < 0; ++i) {
      probe = connect_to(port);
      if (probe < 0) std::this_thread::sleep_for(10ms);
    }
    ASSERT_GE(probe, 0) << "haproxy did not start";
    ::close(probe);
    for (const Case& c : cases()) {
      int fd = connect_to(port);
      ASSERT_GE(fd, 0);
      send_all(fd, c.raw);
      std::string carry;
      Response r = read_response(fd, carry);
      ::close(fd);
      const int theirs = r.complete ? r.head.status : 0;
      const int ours = c.statuses.front();
      if (theirs >= 400) {
        EXPECT_GE(ours, 400) << c.name << ": haproxy refuses with " << theirs << ", we forward";
      }
      if (theirs != ours) {
        // 504: haproxy forwarded what our strict upstream then refused to answer.
        differ += "  " + c.name + ": tandem-lb " + std::to_string(ours) + ", haproxy " +
                  (theirs == 504 ? "forwards" : std::to_string(theirs)) + "\n";
      }
    }
  }
  std::filesystem::remove(base + ".cfg");
  std::filesystem::remove(base + ".log");
  std::cout << "rows where haproxy 2.6 answers otherwise (first answer):\n" << differ;
}

// The response side of "Connection: Content-Length": the answer keeps its length, or the
// client, on a connection kept open, would take the next answer for body (tandem-lb sent
// "HTTP/1.1 200 OK\r\n\r\nhello" before bb7bb91; haproxy 2.6 keeps Content-Length).
TEST_F(smuggling, ConnectionNamingContentLengthKeepsTheAnswerFramed) {
  upstream_.set_answer([](const http1::Head&) {
    return std::string(
        "HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 5\r\n\r\nhello");
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  std::string carry;
  ASSERT_TRUE(send_all(fd, "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n"));
  Response one = read_response(fd, carry);
  EXPECT_EQ(one.head.content_length, std::optional<uint64_t>(5));
  EXPECT_EQ(one.body, "hello");
  Response two = read_response(fd, carry);
  EXPECT_EQ(two.body, "hello");
  ::close(fd);
}

// A malformed chunk that arrives after the head went to the server: the client's body is at
// fault, so the answer is 400 as from haproxy 2.6 (not a 502 blamed on the server), and the
// server's connection is closed so it never takes the half request as whole. Raw request:
//   "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
//   then, once forwarded: "zz\r\n..."
TEST_F(smuggling, BadChunkAfterTheHeadIs400LikeHaproxy) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, post(kTe, "5\r\nhello\r\n")));
  for (int i = 0; i < 400 && upstream_.accepted() == 0; ++i) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(upstream_.accepted(), 1);
  std::this_thread::sleep_for(50ms);
  send_all(fd, "zz\r\n" + kSmuggled);
  std::string carry;
  Response r = read_response(fd, carry);
  EXPECT_EQ(r.head.status, 400);
  ::close(fd);
}

}  // namespace
}  // namespace tandem::lb::proxy
