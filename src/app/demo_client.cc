#include "app/demo_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <map>

namespace tandem::app::demo {

double wall_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) * 1000.0 + static_cast<double>(ts.tv_nsec) / 1e6;
}

namespace {

// A request on its way: its socket, what has been read, and where it stands.
struct Flight {
  size_t index = 0;
  double sent_ms = 0;
  int fd = -1;
  bool connected = false;
  std::string in;
};

const char kRequest[] =
    "GET / HTTP/1.1\r\nHost: demo\r\nUser-Agent: tandem-demo\r\nConnection: close\r\n\r\n";

// Parses a whole answer: 0 = not complete yet, 1 = complete (fills r), -1 = bad.
int parse_answer(const std::string& in, bool eof, Request& r) {
  auto head_end = in.find("\r\n\r\n");
  if (head_end == std::string::npos) return eof ? -1 : 0;
  if (in.compare(0, 9, "HTTP/1.1 ") != 0 && in.compare(0, 9, "HTTP/1.0 ") != 0) return -1;
  int status = std::atoi(in.c_str() + 9);
  size_t body_start = head_end + 4;
  long length = -1;
  for (size_t pos = in.find("\r\n"); pos < head_end; pos = in.find("\r\n", pos + 2)) {
    static constexpr char kName[] = "content-length:";
    bool match = true;
    for (size_t i = 0; i + 1 < sizeof(kName); ++i) {
      if (pos + 2 + i >= in.size() || std::tolower(in[pos + 2 + i]) != kName[i]) {
        match = false;
        break;
      }
    }
    if (match) length = std::atol(in.c_str() + pos + 2 + sizeof(kName) - 1);
  }
  if (length >= 0 && in.size() < body_start + static_cast<size_t>(length)) return eof ? -1 : 0;
  if (length < 0 && !eof) return 0;
  std::string body =
      in.substr(body_start, length >= 0 ? static_cast<size_t>(length) : std::string::npos);
  if (status != 200) {
    r.error = "HTTP " + std::to_string(status);
    return 1;
  }
  // The demo's web servers answer "NAME ADDRESS\n".
  auto space = body.find(' ');
  auto nl = body.find('\n');
  r.web = body.substr(0, std::min(space, nl));
  if (space != std::string::npos)
    r.via = body.substr(space + 1, nl == std::string::npos ? nl : nl - space - 1);
  r.ok = true;
  return 1;
}

std::string errno_word(int err) {
  switch (err) {
    case ECONNREFUSED:
      return "refused";
    case ECONNRESET:
      return "reset";
    case EHOSTUNREACH:
      return "no route";
    case ENETUNREACH:
      return "network unreachable";
    default:
      return std::strerror(err);
  }
}

}  // namespace

bool Client::start() {
  thread_ = std::thread([this] { run(); });
  while (started_.load() == 0) ::usleep(1000);
  return started_.load() == 1;
}

void Client::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

std::vector<Request> Client::snapshot(size_t from) const {
  std::lock_guard lock(mu_);
  if (from >= requests_.size()) return {};
  return {requests_.begin() + static_cast<long>(from), requests_.end()};
}

size_t Client::complete_prefix() const {
  std::lock_guard lock(mu_);
  return complete_prefix_;
}

std::string Client::error() const {
  std::lock_guard lock(mu_);
  return error_;
}

void Client::run() {
  if (!options_.netns.empty()) {
    // setns on this thread only: for network namespaces it changes the calling thread, and
    // every socket this thread opens then lives in the client's namespace.
    std::string path = "/run/netns/" + options_.netns;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
      std::lock_guard lock(mu_);
      error_ = "cannot enter " + path + ": " + std::strerror(errno);
      if (fd >= 0) ::close(fd);
      started_ = -1;
      return;
    }
    ::close(fd);
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(options_.port);
  if (::inet_pton(AF_INET, options_.host.c_str(), &addr.sin_addr) != 1) {
    std::lock_guard lock(mu_);
    error_ = "bad address " + options_.host;
    started_ = -1;
    return;
  }
  started_ = 1;

  std::map<int, Flight> flights;  // by fd
  auto finish = [&](Flight& f, bool ok, const std::string& why, const Request* parsed) {
    std::lock_guard lock(mu_);
    Request& r = requests_[f.index];
    r.done_ms = wall_ms();
    if (parsed) {
      r.ok = parsed->ok;
      r.web = parsed->web;
      r.via = parsed->via;
      r.error = parsed->error;
    } else {
      r.ok = ok;
      r.error = why;
    }
    while (complete_prefix_ < requests_.size() && requests_[complete_prefix_].done_ms > 0)
      ++complete_prefix_;
  };
  auto close_flight = [&](std::map<int, Flight>::iterator it) {
    // Reset rather than linger: thousands of short connections leave no TIME_WAIT here.
    linger lg{1, 0};
    ::setsockopt(it->first, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    ::close(it->first);
    return flights.erase(it);
  };

  double next_send = wall_ms();
  size_t sent = 0;
  while (true) {
    double now = wall_ms();
    bool sending = !stop_.load() && sent < options_.max_requests;
    if (!sending && flights.empty()) break;
    if (sending && now >= next_send) {
      size_t index;
      {
        std::lock_guard lock(mu_);
        requests_.push_back(Request{.sent_ms = now});
        index = requests_.size() - 1;
      }
      ++sent;
      next_send += options_.interval_ms;
      if (next_send < now) next_send = now + options_.interval_ms;  // no bursts after a stall
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        Flight f{.index = index, .sent_ms = now};
        finish(f, false, std::string("socket: ") + std::strerror(errno), nullptr);
        continue;
      }
      int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
      Flight f{.index = index, .sent_ms = now, .fd = fd};
      if (rc != 0 && errno != EINPROGRESS) {
        finish(f, false, errno_word(errno), nullptr);
        ::close(fd);
        continue;
      }
      flights.emplace(fd, std::move(f));
      continue;
    }
    // Time-outs.
    double earliest = sending ? next_send : now + 50;
    for (auto it = flights.begin(); it != flights.end();) {
      double deadline = it->second.sent_ms + options_.timeout_ms;
      if (now >= deadline) {
        finish(it->second, false, "timeout", nullptr);
        it = close_flight(it);
      } else {
        earliest = std::min(earliest, deadline);
        ++it;
      }
    }
    std::vector<pollfd> fds;
    fds.reserve(flights.size());
    for (auto& [fd, f] : flights)
      fds.push_back({fd, static_cast<short>(f.connected ? POLLIN : POLLOUT), 0});
    int wait = static_cast<int>(std::max(0.0, earliest - wall_ms())) + 1;
    if (::poll(fds.data(), fds.size(), std::min(wait, 50)) <= 0) continue;
    for (const auto& p : fds) {
      if (p.revents == 0) continue;
      auto it = flights.find(p.fd);
      if (it == flights.end()) continue;
      Flight& f = it->second;
      if (!f.connected) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(p.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          finish(f, false, errno_word(err), nullptr);
          close_flight(it);
          continue;
        }
        f.connected = true;
        if (::send(p.fd, kRequest, sizeof kRequest - 1, MSG_NOSIGNAL) !=
            static_cast<ssize_t>(sizeof kRequest - 1)) {
          finish(f, false, errno_word(errno), nullptr);
          close_flight(it);
        }
        continue;
      }
      char buf[4096];
      ssize_t n = ::recv(p.fd, buf, sizeof buf, 0);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n < 0) {
        finish(f, false, errno_word(errno), nullptr);
        close_flight(it);
        continue;
      }
      if (n > 0) f.in.append(buf, static_cast<size_t>(n));
      if (f.in.size() > 65536) {
        finish(f, false, "answer too long", nullptr);
        close_flight(it);
        continue;
      }
      Request parsed;
      int done = parse_answer(f.in, n == 0, parsed);
      if (done == 0) continue;
      if (done < 0) {
        finish(f, false, f.in.empty() ? "closed without an answer" : "bad answer", nullptr);
      } else {
        finish(f, parsed.ok, parsed.error, &parsed);
      }
      close_flight(it);
    }
  }
}

Outage measure(const std::vector<Request>& requests, double from_ms, double to_ms) {
  Outage o;
  size_t first_fail = requests.size();
  for (size_t i = 0; i < requests.size(); ++i) {
    const Request& r = requests[i];
    bool inside = r.sent_ms >= from_ms && (to_ms < 0 || r.sent_ms < to_ms);
    if (!r.ok) {
      // A failed request still in flight when a fault struck failed because of that fault.
      bool at_from = r.sent_ms < from_ms && r.done_ms > from_ms;
      bool at_to = to_ms >= 0 && r.sent_ms < to_ms && r.done_ms > to_ms;
      inside = (inside || at_from) && !at_to;
    }
    if (!inside) continue;
    ++o.requests;
    if (!r.ok) {
      ++o.failed;
      if (first_fail == requests.size()) first_fail = i;
    }
  }
  if (first_fail == requests.size()) return o;
  o.first_fail_ms = requests[first_fail].sent_ms;
  o.recovered = false;
  for (size_t i = first_fail + 1; i < requests.size(); ++i) {
    if (requests[i].ok && requests[i].sent_ms > o.first_fail_ms) {
      o.outage_ms = requests[i].sent_ms - o.first_fail_ms;
      o.recovered = true;
      break;
    }
  }
  if (!o.recovered && !requests.empty()) o.outage_ms = requests.back().sent_ms - o.first_fail_ms;
  // A failure after the recovery (in the same window) still counts in `failed`; the outage
  // is the first one, the one the fault caused.
  return o;
}

bool settled(const std::vector<Request>& requests, size_t complete, double since_ms,
             double window_ms) {
  if (complete == 0 || complete > requests.size()) return false;
  double last = requests[complete - 1].sent_ms;
  if (last - since_ms < window_ms) return false;
  for (size_t i = complete; i-- > 0;) {
    if (requests[i].sent_ms < last - window_ms) return true;
    if (!requests[i].ok) return false;
  }
  return false;
}

}  // namespace tandem::app::demo
