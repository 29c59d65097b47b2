// The demo's client: a bounded, steady stream of HTTP requests (a new connection each) from a
// thread that may enter a network namespace, and the pure arithmetic of outages over it.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tandem::app::demo {

// Milliseconds of the wall clock (CLOCK_REALTIME), the clock the daemons' log lines carry.
double wall_ms();

// One request as the client saw it. A request succeeds when a whole "200" answer arrived
// within the time-out; the answer's body names the web server and the node it came through.
struct Request {
  double sent_ms = 0;  // wall clock
  double done_ms = 0;  // 0 while in flight
  bool ok = false;
  std::string web;    // "web3" (from the body), empty on failure
  std::string via;    // the address the web server saw the request from (the node's)
  std::string error;  // why it failed: "refused", "timeout", "reset", "HTTP 503", ...
};

struct ClientOptions {
  std::string netns;  // empty: this namespace; else a name under /run/netns
  std::string host;   // IPv4 address
  uint16_t port = 80;
  int interval_ms = 10;
  int timeout_ms = 200;
  size_t max_requests = 12000;  // the bound, whatever happens
};

class Client {
 public:
  explicit Client(ClientOptions options) : options_(std::move(options)) {}
  ~Client() { stop(); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Starts the thread; false (and error()) if it could not enter the namespace.
  bool start();
  // Stops sending; requests in flight get their time-out to finish. Idempotent.
  void stop();
  // Requests in send order; the first `complete_prefix` of them are finished.
  std::vector<Request> snapshot(size_t from = 0) const;
  size_t complete_prefix() const;
  std::string error() const;

 private:
  void run();

  ClientOptions options_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> started_{0};  // 0 pending, 1 running, -1 failed
  mutable std::mutex mu_;
  std::vector<Request> requests_;
  size_t complete_prefix_ = 0;
  std::string error_;
};

// What the client saw between a fault and the next one (pure, for tests).
struct Outage {
  size_t requests = 0;
  size_t failed = 0;
  double outage_ms = 0;      // first failed request to the next success, by send time
  bool recovered = true;     // a success followed the last failure
  double first_fail_ms = 0;  // wall clock, when failed > 0
};
// Requests sent in [from_ms, to_ms) (to_ms < 0: no end), where a failed one belongs to the
// window in which it was still in flight at its end: a request sent just before a fault and
// timed out by it is that fault's. The next success may lie after to_ms.
Outage measure(const std::vector<Request>& requests, double from_ms, double to_ms);

// Whether the last `window_ms` of finished requests (by send time, up to the complete
// prefix) are all successes and the stream covers that long after `since_ms`.
bool settled(const std::vector<Request>& requests, size_t complete, double since_ms,
             double window_ms);

}  // namespace tandem::app::demo
