// tandem-lb against Debian's haproxy 2.6: each config under configs/ runs under both, in
// front of the same kind of fake upstreams, and the same scripted requests go to each. The
// test compares what a client and the upstreams observe.
//
// Both programs run with `nbthread 1` (in every config), so the exact server sequences of the
// balancing algorithms are deterministic on both sides and compared request by request. A
// config may open a stats socket at ${STATS_SOCK} for runtime changes (Client::cli).
//
// Normalizations, each because the difference is not one a client or a server can rely on:
//  N1 header names are compared in lower case: haproxy 2.6 lowercases every header name it
//     forwards (its internal HTX form); tandem-lb keeps the case it received. RFC 9110 5.1:
//     names are case-insensitive.
//  N2 the `Connection` header the upstream receives is dropped: haproxy keeps server
//     connections alive silently, tandem-lb may say "close" where it does not reuse one;
//     either way the upstream gets one request per exchange here.
//     For the same reason the Content-Length of an upstream's answer (the length of the
//     head it echoes) is not compared; the echoed head itself is.
//  N3 the reason phrase is not compared for answers made by the upstream (both pass it on)
//     and compared for the proxies' own answers.
//  N4 response header lines are compared sorted by name, keeping the order of the lines of
//     one name: haproxy 2.6 sends its own error pages with Connection before Content-Type
//     when the mux answers (408) and after it otherwise; RFC 9110 5.3 gives the order of
//     different names no meaning.
//  N8 the TE request header is not compared: haproxy 2.6 passes "TE: trailers" on to the
//     server, tandem-lb removes TE as the hop-by-hop header it is (RFC 9110 7.6.1).
//  N7 Transfer-Encoding in an answer to an HTTP/1.0 client is not compared (the body is):
//     haproxy 2.6 sends a chunked answer to a 1.0 client as chunked, which RFC 9112 6.1
//     forbids; tandem-lb sends it plain, ended by the close.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "../socket_util.h"
#include "lb/http1.h"

#ifndef TANDEM_LB_BINARY
#error "TANDEM_LB_BINARY must name the tandem-lb executable"
#endif
#ifndef TANDEM_DIFF_CONFIGS
#error "TANDEM_DIFF_CONFIGS must name the configs directory"
#endif

extern char** environ;

namespace tandem::lb::differential {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using netutil::connect_from;
using netutil::free_port;
using netutil::send_all;
using netutil::set_timeouts;

constexpr const char* kHaproxy = "/usr/sbin/haproxy";

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// ---- fake upstreams ----

enum class Kind : uint8_t {
  kEcho,  // answers every request (and every health check) with 200
  kDown,  // nothing listens on its port
  kSick,  // answers 503 to GET /health, 200 to the rest
};

// An HTTP server on 127.0.0.1 that answers with its name in X-Server and, as its body, the
// request head exactly as it received it. GET /status/NNN answers NNN; GET /slow waits.
class EchoServer {
 public:
  EchoServer(std::string name, Kind kind) : name_(std::move(name)), kind_(kind) {
    if (kind_ == Kind::kDown) {
      port_ = free_port();
      return;
    }
    fd_ = netutil::loopback_listener();
    port_ = netutil::local_port(fd_);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~EchoServer() {
    if (fd_ < 0) return;
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    acceptor_.join();
    ::close(fd_);
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mu_);
      for (int c : fds_) ::shutdown(c, SHUT_RDWR);
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
    for (int c : fds_) ::close(c);
  }
  uint16_t port() const { return port_; }
  const std::string& name() const { return name_; }

 private:
  void accept_loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      set_timeouts(c, 5000ms);
      std::lock_guard lock(mu_);
      fds_.push_back(c);
      threads_.emplace_back([this, c] {
        serve(c);
        ::shutdown(c, SHUT_RDWR);  // closed by the destructor: the number stays ours till then
      });
    }
  }

  void serve(int fd) {
    http1::Parser parser(http1::Mode::kRequest);
    std::string carry, raw_head, body;
    bool in_head = true;
    char buf[16384];
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return;
      carry.append(buf, static_cast<size_t>(n));
      while (!carry.empty()) {
        http1::Progress pr = parser.feed(carry);
        if (in_head) raw_head.append(carry, 0, pr.consumed);
        for (std::string_view piece : pr.body) body.append(piece);
        if (pr.head_complete) {
          // The head ends at the first empty line; what came after it is body.
          size_t end = raw_head.find("\r\n\r\n");
          if (end != std::string::npos) raw_head.resize(end + 4);
          in_head = false;
          if (parser.head().expect_100_continue && !pr.message_complete &&
              !send_all(fd, "HTTP/1.1 100 Continue\r\n\r\n")) {
            return;
          }
        }
        carry.erase(0, pr.consumed);
        if (pr.failed()) return;
        if (pr.message_complete) {
          const bool close = parser.head().target.find("/eof") != std::string::npos;
          if (!send_all(fd, answer(parser.head(), raw_head, body, parser.trailers()))) return;
          if (close || !parser.head().keep_alive) return;
          raw_head.clear();
          body.clear();
          in_head = true;
          continue;
        }
        if (pr.consumed == 0) break;
      }
    }
  }

  // FNV-1a: enough to tell two request bodies apart.
  static std::string digest(std::string_view data) {
    uint32_t h = 2166136261u;
    for (unsigned char ch : data) h = (h ^ ch) * 16777619u;
    char out[16];
    std::snprintf(out, sizeof out, "%08x", h);
    return out;
  }

  std::string answer(const http1::Head& head, const std::string& raw_head,
                     const std::string& req_body, const http1::Headers& req_trailers) {
    const std::string& t = head.target;
    int status = 200;
    if (t == "/health") {
      status = kind_ == Kind::kSick ? 503 : 200;
    } else if (size_t at = t.find("/status/"); at != std::string::npos) {
      status = std::atoi(t.c_str() + at + 8);
    } else if (t.find("/slow") != std::string::npos) {
      std::this_thread::sleep_for(400ms);  // holds a server connection on purpose
    }
    std::string body = t == "/health" ? "" : raw_head;
    std::string out = "HTTP/1.1 " + std::to_string(status) +
                      " Upstream Says\r\nContent-Type: text/plain\r\nServer: fake/1.0\r\n"
                      "X-Upstream-Secret: s3cr3t\r\nX-Server: " +
                      name_ + "\r\n";
    if (!req_body.empty()) {
      out += "X-Body-Length: " + std::to_string(req_body.size()) +
             "\r\nX-Body-Digest: " + digest(req_body) + "\r\n";
    }
    for (const auto& tr : req_trailers)
      out += "X-Got-Trailer: " + lower(tr.name) + "=" + tr.value + "\r\n";  // N1
    if (t.find("/cookies") != std::string::npos) {
      out += "Set-Cookie: a=1; Path=/\r\nSet-Cookie: b=2; HttpOnly\r\n";
    }
    if (status == 204 || status == 304) return out + "\r\n";  // never a body
    if (t.find("/eof") != std::string::npos) {  // no length: the body ends at the close
      out += "Connection: close\r\n\r\n" + body;
      return head.method == "HEAD" ? out.substr(0, out.find("\r\n\r\n") + 4) : out;
    }
    if (t.find("/chunked") != std::string::npos || t.find("/trailers") != std::string::npos) {
      out += "Transfer-Encoding: chunked\r\n\r\n";
      size_t half = body.size() / 2;
      http1::append_chunk(out, std::string_view(body).substr(0, half));
      http1::append_chunk(out, std::string_view(body).substr(half));
      if (t.find("/trailers") != std::string::npos) {
        http1::append_last_chunk(out, {{"X-Trailer", "t"}});
      } else {
        http1::append_last_chunk(out);
      }
      return head.method == "HEAD" ? out.substr(0, out.find("\r\n\r\n") + 4) : out;
    }
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    return head.method == "HEAD" ? out : out + body;
  }

  std::string name_;
  Kind kind_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> threads_;
  std::vector<int> fds_;
};

// ---- the programs under test ----

// A child process with its output in a file; killed by pid (never by name) when done.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
        std::string log_path)
      : log_path_(std::move(log_path)) {
    // Everything the child needs is prepared before fork(): after it, only async-signal-safe
    // calls (the test runs threads). The test's own sockets are close-on-exec, so the child
    // holds none of the fake upstreams' ports.
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string_view kv(*e);
      std::string key(kv.substr(0, kv.find('=')));
      if (env.count(key) == 0) env_strings.emplace_back(kv);
    }
    for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
    std::vector<char*> cargv, cenv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    for (auto& e : env_strings) cenv.push_back(e.data());
    cenv.push_back(nullptr);
    int out = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      // Dies with the test process, however that one ends.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      int devnull = ::open("/dev/null", O_RDONLY);
      ::dup2(devnull, 0);
      ::dup2(out, 1);
      ::dup2(out, 2);
      ::execve(cargv[0], cargv.data(), cenv.data());
      ::_exit(127);
    }
    ::close(out);
  }
  ~Child() { stop(); }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // SIGTERM, then SIGKILL after a second; returns the wait status (or -1 if none).
  int stop() {
    if (pid_ <= 0) return status_;
    ::kill(pid_, SIGTERM);
    auto deadline = Clock::now() + 1s;
    for (;;) {
      int st = 0;
      pid_t r = ::waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        status_ = st;
        break;
      }
      if (Clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &st, 0);
        status_ = st;
        break;
      }
      std::this_thread::sleep_for(5ms);
    }
    pid_ = -1;
    return status_;
  }
  bool running() {
    if (pid_ <= 0) return false;
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      status_ = st;
      pid_ = -1;
      return false;
    }
    return true;
  }
  std::string output() const {
    std::ifstream f(log_path_);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }

 private:
  std::string log_path_;
  pid_t pid_ = -1;
  int status_ = -1;
};

// Runs a command to its end (bounded), returns its exit code and output.
int run_command(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                const std::string& log_path, std::string& output) {
  Child c(argv, env, log_path);
  auto deadline = Clock::now() + 10s;
  while (c.running() && Clock::now() < deadline) std::this_thread::sleep_for(5ms);
  int st = c.stop();
  output = c.output();
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// ---- what a client observes ----

struct Answer {
  int status = 0;
  std::string reason;
  http1::Headers headers;
  std::string body;
  bool complete = false;
  std::string server;  // X-Server, when an upstream answered
  http1::Headers trailers;
};

// Reads one answer (skipping 1xx interim ones) and leaves the connection as it is; bytes of
// a later answer that came in the same read stay in a per-connection carry.
std::map<int, std::string>& carries() {
  static std::map<int, std::string> m;
  return m;
}
Answer read_answer_keep(int fd, std::string_view method) {
  http1::Parser p(http1::Mode::kResponse);
  p.expect_response_to(method);
  Answer a;
  std::string& carry = carries()[fd];
  char buf[65536];
  for (;;) {
    if (!carry.empty()) {
      auto pr = p.feed(carry);
      for (auto piece : pr.body) a.body.append(piece);
      if (pr.head_complete) {
        a.status = p.head().status;
        a.reason = p.head().reason;
        a.headers = p.head().headers;
      }
      carry.erase(0, pr.consumed);
      if (pr.failed()) break;
      if (pr.message_complete) {
        if (p.head().interim()) continue;  // 100 Continue: the final answer follows
        a.complete = true;
        a.trailers = p.trailers();
        break;
      }
      if (pr.consumed > 0 && !carry.empty()) continue;
    }
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      auto pr = p.finish();
      for (auto piece : pr.body) a.body.append(piece);
      a.complete = pr.message_complete;
      break;
    }
    carry.append(buf, static_cast<size_t>(n));
  }
  if (const auto* h = http1::find_header(a.headers, "X-Server")) a.server = h->value;
  return a;
}

// One answer on a connection used once.
Answer read_answer(int fd, std::string_view method) {
  Answer a = read_answer_keep(fd, method);
  carries().erase(fd);
  return a;
}

// True when the peer neither closed nor sent anything within 150 ms.
bool still_open(int fd) {
  if (!carries()[fd].empty()) return true;
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 150) == 0) return true;
  char b;
  return ::recv(fd, &b, 1, MSG_PEEK) > 0;
}

// The request head an upstream echoed, normalized (N1, N2): one line per header.
std::string normalize_echoed_head(const std::string& raw) {
  std::istringstream in(raw);
  std::string line, out;
  bool first = true;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) break;
    if (first) {
      out += "  upstream got: " + line + "\n";
      first = false;
      continue;
    }
    size_t colon = line.find(':');
    std::string name = lower(line.substr(0, colon));
    std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    if (name == "connection") continue;  // N2
    if (name == "te") continue;          // N8
    out += "  upstream hdr: " + name + ": " + value + "\n";
  }
  return out;
}

// Everything compared for one answer, as text (readable in a failure message).
std::string describe(const Answer& a, bool http10_client = false) {
  std::string s = "status " + std::to_string(a.status);
  if (!a.complete) s += " (incomplete)";
  if (a.server.empty()) s += " " + a.reason;  // N3
  s += "\n";
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& h : a.headers) {
    std::string name = lower(h.name);  // N1
    std::string value = h.value;
    if (!a.server.empty() && name == "content-length") value = "(length of the echo)";  // N2
    if (http10_client && name == "transfer-encoding") continue;                         // N7
    headers.emplace_back(std::move(name), std::move(value));
  }
  // N4: one name's lines keep their order; different names may come in any order.
  std::stable_sort(headers.begin(), headers.end(),
                   [](const auto& x, const auto& y) { return x.first < y.first; });
  for (const auto& [name, value] : headers) s += "  resp hdr: " + name + ": " + value + "\n";
  for (const auto& t : a.trailers) s += "  trailer: " + lower(t.name) + ": " + t.value + "\n";
  if (!a.server.empty()) {
    s += normalize_echoed_head(a.body);
  } else {
    s += "  body: " + a.body + "\n";
  }
  return s;
}

std::string joined(const std::vector<std::string>& seq) {
  std::string out;
  for (const auto& s : seq) out += s + " ";
  return out;
}

// ---- scenarios ----

struct Record {
  std::vector<std::pair<std::string, std::string>> entries;
  void add(std::string label, std::string what) {
    entries.emplace_back(std::move(label), std::move(what));
  }
};

// What a scenario's script may do, against whichever program runs the config.
class Client {
 public:
  Client(std::map<std::string, uint16_t> ports, Record& record)
      : ports_(std::move(ports)), record_(record) {}
  uint16_t port(const std::string& var = "FE_PORT") const { return ports_.at(var); }
  // A command on the stats socket at ${STATS_SOCK}, answer ignored (the proxy closes when done).
  void cli(const std::string& command) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", stats_socket_.c_str());
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      ADD_FAILURE() << "stats socket " << stats_socket_ << ": " << std::strerror(errno);
      if (fd >= 0) ::close(fd);
      return;
    }
    netutil::set_timeouts(fd);
    send_all(fd, command + "\n");
    netutil::recv_all(fd);
    ::close(fd);
  }
  void set_stats_socket(std::string path) { stats_socket_ = std::move(path); }

  // One request on a fresh connection; the answer is recorded under `label`.
  Answer request(const std::string& label, const std::string& raw,
                 const std::string& src = "127.0.0.1", const std::string& var = "FE_PORT") {
    auto t0 = Clock::now();
    Answer a = exchange(raw, src, var);
    if (const char* v = std::getenv("TANDEM_DIFF_VERBOSE"); v != nullptr && *v == '1') {
      std::cerr << "(" << label << ": "
                << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count()
                << " ms)\n";
    }
    record_.add(label, describe(a));
    return a;
  }
  // The same without recording (for sequences recorded as a whole).
  Answer exchange(const std::string& raw, const std::string& src = "127.0.0.1",
                  const std::string& var = "FE_PORT") {
    int fd = connect_from(src, port(var));
    if (fd < 0) return {};
    send_all(fd, raw);
    Answer a = read_answer(fd, raw.substr(0, raw.find(' ')));
    ::close(fd);
    return a;
  }
  // Requests written one after another on one connection, each answer read before the
  // next write (a string may hold several pipelined requests: one answer per request
  // line). Records every answer and whether the connection stayed open after it.
  void sequence(const std::string& label, const std::vector<std::string>& writes,
                const std::string& var = "FE_PORT") {
    int fd = connect_from("127.0.0.1", port(var));
    std::string out;
    for (const std::string& w : writes) {
      if (!send_all(fd, w)) {
        out += "(write failed: closed)\n";
        break;
      }
      // One answer per request in this write, each for its own method.
      for (size_t at = 0; at < w.size();) {
        std::string method = w.substr(at, w.find(' ', at) - at);
        const bool http10 = w.compare(w.find("\r\n", at) - 8, 8, "HTTP/1.0") == 0;
        Answer a = read_answer_keep(fd, method);
        out += describe(a, http10);
        size_t next = w.find("\r\n\r\n", at);
        at = next == std::string::npos ? w.size() : next + 4;
      }
      if (!still_open(fd)) {
        out += "  (closed)\n";
        break;  // later writes would race the peer's reset
      }
      out += "  (open)\n";
    }
    ::close(fd);
    record_.add(label, out);
  }
  void note(const std::string& label, const std::string& what) { record_.add(label, what); }

 private:
  std::map<std::string, uint16_t> ports_;
  Record& record_;
  std::string stats_socket_;
};

std::string get(const std::string& path, const std::string& extra = "",
                const std::string& host = "example.test") {
  return "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n" + extra + "\r\n";
}

struct Scenario {
  std::string config;                                 // file name under configs/
  std::vector<std::pair<std::string, Kind>> servers;  // s1, s2, ... → S1_PORT, S2_PORT, ...
  bool second_frontend = false;                       // FE2_PORT
  std::chrono::milliseconds settle{0};                // wait after start-up (health checks)
  std::function<void(Client&)> script;
};

std::string config_file(const std::string& key) {
  return key.substr(0, key.find('#'));
}

std::vector<std::pair<std::string, Kind>> echo_servers(int n) {
  std::vector<std::pair<std::string, Kind>> v;
  for (int i = 1; i <= n; ++i) v.emplace_back("s" + std::to_string(i), Kind::kEcho);
  return v;
}

std::vector<Scenario> scenarios() {
  std::vector<Scenario> v;
  v.push_back({"01-routing.cfg", echo_servers(6), false, 0ms, [](Client& c) {
                 c.request("api read", get("/api/items"));
                 c.request("api write",
                           "POST /api/items HTTP/1.1\r\nHost: example.test\r\n"
                           "Content-Length: 2\r\n\r\nhi");
                 c.request("api delete", "DELETE /api/items/1 HTTP/1.1\r\nHost: e\r\n\r\n");
                 c.request("api without slash", get("/api"));
                 c.request("static", get("/site.css"));
                 c.request("static from 127.0.0.2", get("/site.css"), "127.0.0.2");
                 c.request("other from 127.0.0.2", get("/x"), "127.0.0.2");
                 c.request("admin host", get("/api/items", "", "admin.example.test"));
                 c.request("admin host upper case", get("/", "", "ADMIN.Example.Test"));
                 c.request("tenant header", get("/t", "X-Tenant: blue\r\n"));
                 c.request("tenant header other", get("/t", "X-Tenant: bluer\r\n"));
                 c.request("default", get("/index.html?q=1"));
                 c.request("http 1.0", "GET /old HTTP/1.0\r\n\r\n");
               }});
  v.push_back({"02-request-headers.cfg", echo_servers(1), false, 0ms, [](Client& c) {
                 c.request("plain", get("/"));
                 c.request("debug removed", get("/", "X-Debug: 1\r\nX-Keep: k\r\nX-Debug: 2\r\n"));
                 c.request("proto replaced", get("/", "X-Forwarded-Proto: https\r\n"));
                 c.request("via added after existing", get("/", "X-Via: client\r\n"));
                 c.request("admin", get("/", "", "admin.example.test"));
                 c.request("internal kept", get("/", "X-Internal: 1\r\n"));
                 c.request("internal dropped", get("/", "X-Internal: 1\r\n"), "127.0.0.2");
                 c.request("client already set", get("/a/b?c=d", "X-Client: forged\r\n"));
                 c.request("no host in 1.0", "GET /ten HTTP/1.0\r\n\r\n");
               }});
  v.push_back({"03-deny-redirect-return.cfg", echo_servers(1), false, 0ms, [](Client& c) {
                 c.request("allowed", get("/ok"));
                 c.request("denied 429", get("/ok"), "127.0.0.2");
                 c.request("denied 403", get("/private/x"));
                 c.request("redirect location", get("/old"));
                 c.request("redirect prefix", get("/v1/items?x=1"));
                 c.request("redirect scheme", get("/p?q", "", "secure.example.test"));
                 c.request("return 200", get("/healthz"));
                 c.request("return 404", get("/gone/x"));
                 c.request("head of a return", "HEAD /healthz HTTP/1.1\r\nHost: e\r\n\r\n");
                 c.request("redirect 303 drop-query", get("/account/x?y=1"));
                 c.request("redirect 308 append-slash", get("/manual"));
                 c.request("redirect 308 append-slash with query", get("/manual/page?x"));
                 c.request("redirect set-cookie", get("/welcome"));
                 c.request("deny 503 on PUT",
                           "PUT /x HTTP/1.1\r\nHost: e\r\nContent-Length: 3\r\n\r\nabc");
                 c.request("deny with a body",
                           "POST /private HTTP/1.1\r\nHost: e\r\n"
                           "Content-Length: 3\r\n\r\nabc");
               }});
  v.push_back({"04-response-headers.cfg", echo_servers(1), false, 0ms, [](Client& c) {
                 c.request("200", get("/"));
                 c.request("500", get("/status/500"));
                 c.request("404", get("/status/404"));
               }});
  // Round robin and static-rr: the exact server sequences, three cycles of the weights.
  auto sequence = [](Client& c, const std::string& path, int n) {
    std::vector<std::string> seq;
    for (int i = 0; i < n; ++i) seq.push_back(c.exchange(get(path)).server);
    return joined(seq);
  };
  v.push_back({"05-roundrobin-weights.cfg", echo_servers(13), false, 0ms, [=](Client& c) {
                 c.note("weighted 3:1:2", sequence(c, "/", 18));
                 c.note("equal weights", sequence(c, "/equal", 9));
                 c.note("weighted 10:3:7:1", sequence(c, "/big", 63));
                 c.note("actives 5:1 with a backup", sequence(c, "/backup", 18));
               }});
  v.push_back({"06-static-rr-first.cfg", echo_servers(11), false, 0ms, [=](Client& c) {
                 c.note("static-rr 2:1", sequence(c, "/", 9));
                 c.note("static-rr 10:3:7:1", sequence(c, "/big", 63));
                 c.note("static-rr backups 2 and 3", sequence(c, "/backup", 10));
                 std::string first;
                 for (int i = 0; i < 4; ++i) first += c.exchange(get("/first")).server + " ";
                 c.note("first, one at a time", first);
                 // Three at once, each held 400 ms by the upstream: s3 takes two (its maxconn), the
                 // third goes to s4.
                 std::vector<std::string> got(3);
                 std::vector<std::thread> ts;
                 for (int i = 0; i < 3; ++i) {
                   ts.emplace_back([&c, &got, i] {
                     std::this_thread::sleep_for(std::chrono::milliseconds(30 * i));
                     got[static_cast<size_t>(i)] = c.exchange(get("/first/slow")).server;
                   });
                 }
                 for (auto& t : ts) t.join();
                 std::sort(got.begin(), got.end());
                 c.note("first, three at once", joined(got));
               }});
  // The same across runtime changes made on the stats socket (${STATS_SOCK}).
  v.push_back({"13-roundrobin-runtime.cfg", echo_servers(8), false, 0ms, [=](Client& c) {
                 auto cli = [&c](const std::string& command) { c.cli(command); };
                 std::string rr = sequence(c, "/", 7);
                 cli("set server be_rr/s1 state maint");
                 rr += "| " + sequence(c, "/", 7);
                 cli("set server be_rr/s1 state ready");
                 rr += "| " + sequence(c, "/", 12);
                 cli("set weight be_rr/s2 5");
                 rr += "| " + sequence(c, "/", 20);
                 cli("set server be_rr/s2 weight 1");
                 cli("set server be_rr/s3 state drain");
                 rr += "| " + sequence(c, "/", 9);
                 for (const char* s : {"s1", "s2"})
                   cli(std::string("set server be_rr/") + s + " state maint");
                 rr += "| " + sequence(c, "/", 3);
                 cli("set server be_rr/s2 state ready");
                 cli("set server be_rr/s3 state ready");
                 rr += "| " + sequence(c, "/", 12);
                 c.note("roundrobin 3:1:2 (backup 2) across changes", rr);

                 std::string st = sequence(c, "/static", 4);
                 cli("set server be_static/s5 state maint");
                 st += "| " + sequence(c, "/static", 4);
                 cli("set server be_static/s6 state maint");
                 st += "| " + sequence(c, "/static", 4);
                 cli("set server be_static/s5 state ready");
                 cli("set server be_static/s6 state ready");
                 st += "| " + sequence(c, "/static", 7);
                 c.note("static-rr 2:1 (backups 1 and 3) across changes", st);
               }});
  v.push_back({"07-hashing.cfg", echo_servers(6), false, 0ms, [](Client& c) {
                 std::string by_src, by_uri;
                 for (int round = 0; round < 2; ++round) {
                   for (int i = 1; i <= 8; ++i) {
                     std::string src = "127.0.0." + std::to_string(i);
                     by_src += src + "->" + c.exchange(get("/s"), src).server + " ";
                   }
                   for (const char* u : {"/uri/a", "/uri/b", "/uri/c", "/uri/d", "/uri/e", "/uri/f",
                                         "/uri/g", "/uri/h"}) {
                     by_uri += std::string(u) + "->" + c.exchange(get(u)).server + " ";
                   }
                   by_src += "\n";
                   by_uri += "\n";
                 }
                 c.note("source hash", by_src);
                 c.note("uri hash", by_uri);
               }});
  v.push_back({"08-health-checks.cfg",
               {{"s1", Kind::kEcho},
                {"s2", Kind::kDown},
                {"s3", Kind::kSick},
                {"s4", Kind::kDown},
                {"s5", Kind::kSick}},
               false,
               800ms,
               [](Client& c) {
                 std::string seq;
                 for (int i = 0; i < 6; ++i) seq += c.exchange(get("/")).server + " ";
                 c.note("one server up", seq);
                 c.request("all down", get("/down"));
               }});
  v.push_back({"09-limits.cfg", echo_servers(1), true, 0ms, [](Client& c) {
                 // A head that never ends: 408 after `timeout http-request` (300 ms).
                 int fd = connect_from("127.0.0.1", c.port());
                 auto t0 = Clock::now();
                 send_all(fd, "GET / HTTP/1.1\r\nHost: example.test\r\n");
                 Answer a = read_answer(fd, "GET");
                 auto took = Clock::now() - t0;
                 ::close(fd);
                 c.note("slow head", describe(a));
                 c.note("slow head timing", took >= 280ms && took < 1500ms ? "in time" : "off");
                 // maxconn 1: a second client waits while the first holds its connection.
                 int first = connect_from("127.0.0.1", c.port("FE2_PORT"));
                 send_all(first, get("/one"));
                 Answer one = read_answer(first, "GET");
                 int second = connect_from("127.0.0.1", c.port("FE2_PORT"));
                 send_all(second, get("/two"));
                 pollfd p{second, POLLIN, 0};
                 int ready = ::poll(&p, 1, 300);
                 ::close(first);
                 Answer two = read_answer(second, "GET");
                 ::close(second);
                 c.note("maxconn first", describe(one));
                 c.note("maxconn second waited", ready == 0 ? "waited" : "answered at once");
                 c.note("maxconn second", describe(two));
               }});
  // A connection that sends nothing until `timeout http-request` gets a 408 from both
  // (haproxy 2.6 without `option http-ignore-probes`, which tandem-lb does not implement).
  v.push_back({"09-limits.cfg#idle", echo_servers(1), true, 0ms, [](Client& c) {
                 int idle = connect_from("127.0.0.1", c.port());
                 auto t0 = Clock::now();
                 Answer none = read_answer(idle, "GET");
                 auto took = Clock::now() - t0;
                 ::close(idle);
                 c.note("idle connection", describe(none));
                 c.note("idle connection timing",
                        took >= 280ms && took < 1500ms ? "in time" : "off");
               }});
  v.push_back({"10-forwardfor.cfg", echo_servers(5), false, 0ms, [](Client& c) {
                 for (const char* src : {"127.0.0.1", "127.0.0.2"}) {
                   std::string s(src);
                   c.request("plain from " + s, get("/"), s);
                   c.request("plain with XFF from " + s, get("/", "X-Forwarded-For: 10.1.1.1\r\n"),
                             s);
                   c.request("except from " + s, get("/except"), s);
                   c.request("if-none from " + s, get("/ifnone"), s);
                   c.request("if-none with XFF from " + s,
                             get("/ifnone", "X-Forwarded-For: 10.1.1.1\r\n"), s);
                   c.request("header from " + s, get("/header"), s);
                   c.request("none from " + s, get("/none"), s);
                 }
               }});
  v.push_back(
      {"12-bodies-headers.cfg", echo_servers(1), false, 0ms, [](Client& c) {
         auto post = [](const std::string& path, const std::string& headers,
                        const std::string& body) {
           return "POST " + path + " HTTP/1.1\r\nHost: example.test\r\n" + headers + "\r\n" + body;
         };
         c.request("post content-length", post("/p", "Content-Length: 11\r\n", "hello world"));
         c.request("post chunked", post("/p", "Transfer-Encoding: chunked\r\n",
                                        "5\r\nhello\r\n1\r\n \r\n5;ext=1\r\nworld\r\n0\r\n\r\n"));
         c.request("post chunked with a trailer",
                   post("/p", "Transfer-Encoding: chunked\r\n",
                        "5\r\nhello\r\n0\r\nX-Req-Trailer: yes\r\n\r\n"));
         std::string big(100000, 'x');
         for (size_t i = 0; i < big.size(); i += 7) big[i] = static_cast<char>('a' + i % 26);
         c.request("post 100 KB", post("/big", "Content-Length: 100000\r\n", big));
         {
           // Expect: 100-continue: the interim answer comes before the body is sent.
           int fd = connect_from("127.0.0.1", c.port());
           send_all(fd, post("/expect", "Content-Length: 5\r\nExpect: 100-continue\r\n", ""));
           pollfd pf{fd, POLLIN, 0};
           std::string interim = "(nothing within 1 s)";
           if (::poll(&pf, 1, 1000) == 1) {
             char b[256];
             ssize_t n = ::recv(fd, b, sizeof b, MSG_PEEK);
             interim = n > 0 ? std::string(b, static_cast<size_t>(n)) : "(closed)";
             interim = interim.substr(0, interim.find("\r\n"));
           }
           send_all(fd, "abcde");
           Answer a = read_answer(fd, "POST");
           ::close(fd);
           c.note("expect 100-continue: first line", interim);
           c.note("expect 100-continue", describe(a));
         }
         c.request("duplicate headers", get("/d", "X-A: 1\r\nX-A: 2\r\nx-a: 3\r\n"));
         c.request("empty value", get("/e", "X-Empty:\r\nX-Empty2: \r\n"));
         c.request("inner and outer spaces", get("/s", "X-Sp:   a  b\tc  \r\n"));
         c.request("8000-byte header", get("/l", "X-Long: " + std::string(8000, 'L') + "\r\n"));
         std::string many;
         for (int i = 0; i < 90; ++i) many += "X-M" + std::to_string(i) + ": v\r\n";
         c.request("90 headers", get("/m", many));
         c.request("host with port", get("/h", "", "example.test:8080"));
         c.request("absolute uri, same host",
                   "GET http://example.test/abs?x=1 HTTP/1.1\r\nHost: example.test\r\n\r\n");
         c.request("encoded path, query and a '#' (400 in both)", get("/a%20b/c%2Fd?x=1&y=%2F#"));
         c.request("OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: example.test\r\n\r\n");
         c.request("answer without length", get("/eof"));
         c.request("answer without length to HEAD",
                   "HEAD /eof HTTP/1.1\r\nHost: example.test\r\n\r\n");
         c.request("two set-cookie", get("/cookies"));
         c.request("answer trailers", get("/trailers", "TE: trailers\r\n"));
         c.request("upstream 500", get("/status/500"));
       }});
  // A 101 the client did not ask for (no Upgrade) is answered 502 by both: passed on, it
  // would make the client believe the protocol switched while the proxy parses HTTP. Both
  // keep the client connection after that 502.
  v.push_back({"12-bodies-headers.cfg#101", echo_servers(1), false, 0ms,
               [](Client& c) { c.request("upstream 101 not asked", get("/status/101")); }});
  // Each connection mode, seen from one client connection: the answers, and whether the
  // proxy kept the connection after each write.
  auto keepalive = [](std::vector<std::pair<std::string, std::string>> where) {
    return [where](Client& c) {
      for (const auto& [p, var] : where) {
        const std::string l = p + (var == "FE_PORT" ? "" : " on " + var) + ": ";
        c.sequence(l + "two requests", {get(p + "/one"), get(p + "/two", "Connection: close\r\n")},
                   var);
        c.sequence(l + "pipelined three", {get(p + "/1") + get(p + "/2") + get(p + "/3")}, var);
        c.sequence(l + "http 1.0 keep-alive",
                   {"GET " + p + "/ten HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
                    "GET " + p + "/ten2 HTTP/1.0\r\n\r\n"},
                   var);
        c.sequence(l + "chunked answer to 1.1 then 1.0",
                   {get(p + "/chunked"), "GET " + p + "/chunked HTTP/1.0\r\n\r\n"}, var);
        c.sequence(l + "head, 204, 304",
                   {"HEAD " + p + "/h HTTP/1.1\r\nHost: e\r\n\r\n", get(p + "/status/204"),
                    get(p + "/status/304"), get(p + "/after")},
                   var);
      }
    };
  };
  v.push_back({"11-keepalive.cfg", echo_servers(3), true, 0ms,
               keepalive({{"/ka", "FE_PORT"}, {"/sc", "FE_PORT"}, {"/ka", "FE2_PORT"}})});
  // `option httpclose` in a backend: both close the server connection only ("only the
  // frontend is considered for client connections"); a pipeline goes on.
  v.push_back(
      {"11-keepalive.cfg#httpclose", echo_servers(3), true, 0ms, keepalive({{"/hc", "FE_PORT"}})});
  return v;
}

// ---- running one program ----

struct Program {
  std::string name;
  std::string binary;
};

class Differential : public ::testing::TestWithParam<std::string> {
 protected:
  static const Scenario& scenario(const std::string& config) {
    static const std::vector<Scenario> all = scenarios();
    for (const auto& s : all) {
      if (s.config == config) return s;
    }
    throw std::runtime_error("no scenario for " + config);
  }

  // Starts fresh upstreams and the program on fresh ports, runs the script, stops all.
  void run(const Program& prog, const Scenario& sc, Record& record) {
    std::vector<std::unique_ptr<EchoServer>> servers;
    std::map<std::string, uint16_t> ports;
    std::map<std::string, std::string> env;
    for (size_t i = 0; i < sc.servers.size(); ++i) {
      servers.push_back(std::make_unique<EchoServer>(sc.servers[i].first, sc.servers[i].second));
      ports["S" + std::to_string(i + 1) + "_PORT"] = servers.back()->port();
    }
    ports["FE_PORT"] = free_port();
    if (sc.second_frontend) ports["FE2_PORT"] = free_port();
    for (const auto& [k, p] : ports) env[k] = std::to_string(p);
    const std::string stats_socket = log_path(prog, "stats.sock");
    ::unlink(stats_socket.c_str());
    env["STATS_SOCK"] = stats_socket;
    const std::string cfg = std::string(TANDEM_DIFF_CONFIGS) + "/" + config_file(sc.config);

    std::string out;
    int rc = run_command({prog.binary, "-c", "-f", cfg}, env, log_path(prog, "check"), out);
    ASSERT_EQ(rc, 0) << prog.name << " -c " << sc.config << ":\n" << out;

    Child child({prog.binary, "-db", "-f", cfg}, env, log_path(prog, "run"));
    // Ready when the (last) frontend accepts.
    bool ready = false;
    for (auto deadline = Clock::now() + 5s; !ready && Clock::now() < deadline;) {
      ready = true;
      for (const char* var : {"FE_PORT", "FE2_PORT"}) {
        if (ports.count(var) == 0) continue;
        int fd = connect_from("127.0.0.1", ports[var]);
        if (fd < 0) {
          ready = false;
          break;
        }
        ::close(fd);
      }
      if (!ready) {
        if (!child.running()) break;
        std::this_thread::sleep_for(10ms);
      }
    }
    ASSERT_TRUE(ready) << prog.name << " did not start:\n" << child.output();
    if (sc.settle.count() > 0) std::this_thread::sleep_for(sc.settle);
    Client client(ports, record);
    client.set_stats_socket(stats_socket);
    sc.script(client);
    EXPECT_TRUE(child.running()) << prog.name << " died:\n" << child.output();
    child.stop();
    output_[prog.name] = child.output();
    ::unlink(stats_socket.c_str());
  }

  std::string log_path(const Program& prog, const char* what) {
    return (fs::temp_directory_path() /
            ("tandem-diff-" + std::to_string(::getpid()) + "-" + prog.name + "-" + what + ".log"))
        .string();
  }

  void TearDown() override {
    for (const char* p : {"haproxy", "tandem-lb"}) {
      for (const char* w : {"check", "run"}) {
        std::error_code ec;
        fs::remove(log_path({p, ""}, w), ec);
      }
    }
  }

  void compare(const std::string& config) {
    if (::access(kHaproxy, X_OK) != 0) {
      GTEST_SKIP() << kHaproxy << " is not installed (scripts/install-deps installs it)";
    }
    const Scenario& sc = scenario(config);
    Record theirs, ours;
    // TANDEM_DIFF_VERBOSE=1 prints what haproxy's run gave, also when all matches.
    const char* verbose = std::getenv("TANDEM_DIFF_VERBOSE");
    ASSERT_NO_FATAL_FAILURE(run({"haproxy", kHaproxy}, sc, theirs));
    if (verbose != nullptr && *verbose == '1') {
      for (const auto& [label, what] : theirs.entries) {
        std::cerr << "[" << label << "]\n" << what << "\n";
      }
    }
    ASSERT_NO_FATAL_FAILURE(run({"tandem-lb", TANDEM_LB_BINARY}, sc, ours));
    ASSERT_EQ(theirs.entries.size(), ours.entries.size());
    for (size_t i = 0; i < ours.entries.size(); ++i) {
      EXPECT_EQ(theirs.entries[i].second, ours.entries[i].second)
          << "[" << ours.entries[i].first << "] haproxy (left) vs tandem-lb (right)";
    }
    if (HasFailure()) {
      std::cerr << "---- haproxy output ----\n"
                << output_["haproxy"] << "---- tandem-lb output ----\n"
                << output_["tandem-lb"];
    }
  }

  std::map<std::string, std::string> output_;
};

TEST_P(Differential, SameAnswers) {
  compare(GetParam());
}

std::string test_name(const ::testing::TestParamInfo<std::string>& param_info) {
  std::string n = "cfg" + param_info.param.substr(0, param_info.param.find('.'));
  if (size_t hash = param_info.param.find('#'); hash != std::string::npos) {
    n += "_" + param_info.param.substr(hash + 1);
  }
  std::replace(n.begin(), n.end(), '-', '_');
  return n;
}

// The configs without http-request/http-response rules.
INSTANTIATE_TEST_SUITE_P(differential, Differential,
                         ::testing::Values("01-routing.cfg", "05-roundrobin-weights.cfg",
                                           "06-static-rr-first.cfg", "07-hashing.cfg",
                                           "08-health-checks.cfg", "09-limits.cfg",
                                           "09-limits.cfg#idle", "10-forwardfor.cfg",
                                           "11-keepalive.cfg", "11-keepalive.cfg#httpclose",
                                           "12-bodies-headers.cfg", "12-bodies-headers.cfg#101",
                                           "13-roundrobin-runtime.cfg"),
                         test_name);

// The configs with http-request/http-response rules.
INSTANTIATE_TEST_SUITE_P(differential_rules, Differential,
                         ::testing::Values("02-request-headers.cfg", "03-deny-redirect-return.cfg",
                                           "04-response-headers.cfg"),
                         test_name);

// Every file under configs/ has a scenario, and every scenario's file exists.
TEST(differential_configs, EveryConfigHasAScenario) {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(TANDEM_DIFF_CONFIGS)) {
    if (e.path().extension() == ".cfg") files.push_back(e.path().filename().string());
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> named;
  for (const auto& s : scenarios()) named.push_back(config_file(s.config));
  std::sort(named.begin(), named.end());
  named.erase(std::unique(named.begin(), named.end()), named.end());
  EXPECT_EQ(files, named);
  EXPECT_GE(files.size(), 10u);
}

}  // namespace
}  // namespace tandem::lb::differential
