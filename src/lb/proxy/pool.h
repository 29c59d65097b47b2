// A backend's servers around its balancer, one object shared by every worker thread (as
// haproxy shares a backend's lb tree under a lock), so a rotation is global.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"

namespace tandem::lb::proxy::detail {

// The `balance` and `hash-type` lines, in the balancer's enum order (see pool.cc).
struct PoolSpec {
  uint8_t algorithm = 0;      // lb::Algorithm
  bool consistent = false;    // hash-type consistent
  uint8_t hash_function = 0;  // lb::HashFunction
  bool avalanche = false;
  std::string hdr_name;
  bool hdr_use_domain_only = false;
  bool uri_whole = false, uri_path_only = false;
  uint32_t uri_len = 0, uri_depth = 0;
  uint32_t random_draws = 2;
  bool all_backups = false;  // option allbackups
};

struct PoolServer {
  std::string name;
  uint32_t weight = 1;
  bool backup = false;
  bool disabled = false;
  uint32_t maxconn = 0;
};

// A server's state for new traffic, as the pool holds it.
struct PoolServerState {
  bool up = true;  // health
  bool draining = false;
  bool maint = false;
  uint32_t weight = 1;
  uint32_t maxconn = 0;
};

// Every member is safe from any thread: a mutex guards the balancer and the views. It is held
// for one pick (a few hundred nanoseconds at most), never across I/O.
class Pool {
 public:
  // kServerFull: the request's key belongs to server `index`, which cannot take it now:
  // it queues for that server.
  enum class Outcome : uint8_t { kPicked, kNoServer, kAllFull, kServerFull };
  struct Pick {
    Outcome outcome = Outcome::kNoServer;
    size_t index = 0;
  };

  // `conns`: the servers' connection counts shared by every thread (read at each pick);
  // `queued`: the lengths of the servers' own queues (likewise; may be null).
  Pool(const PoolSpec& spec, const std::vector<PoolServer>& servers, uint64_t seed,
       core::TimePoint now, const std::atomic<uint32_t>* conns,
       const std::atomic<uint32_t>* queued = nullptr);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  Pick pick(std::span<const uint8_t> source, std::string_view uri, std::string_view header,
            std::optional<size_t> exclude, core::TimePoint now);
  // Usable for new traffic: up, not disabled, weight > 0.
  bool usable(size_t index) const;
  // Health or admin state from outside (health checks, the runtime API): rebuilds.
  void set_up(size_t index, bool up, core::TimePoint now);
  void set_admin(size_t index, bool draining, bool maint, core::TimePoint now);
  void set_weight(size_t index, uint32_t weight, core::TimePoint now);
  void set_maxconn(size_t index, uint32_t maxconn, core::TimePoint now);
  PoolServerState state(size_t index) const;
  size_t size() const;
  bool hashes_header() const;
  const std::string& header_name() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::lb::proxy::detail
