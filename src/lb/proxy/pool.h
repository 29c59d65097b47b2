// A backend's servers as one thread sees them, around a balancer: kept apart from config.h
// because lb::HashType names a struct there and an enum in balance/balancer.h.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
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
};

struct PoolServer {
  std::string name;
  uint32_t weight = 1;
  bool backup = false;
  bool disabled = false;
  uint32_t maxconn = 0;
};

class Pool {
 public:
  enum class Outcome : uint8_t { kPicked, kNoServer, kAllFull };
  struct Pick {
    Outcome outcome = Outcome::kNoServer;
    size_t index = 0;
  };

  // `conns`: the servers' connection counts shared by every thread (read at each pick).
  Pool(const PoolSpec& spec, const std::vector<PoolServer>& servers, uint64_t seed,
       core::TimePoint now, const std::atomic<uint32_t>* conns);
  ~Pool();
  Pool(Pool&&) noexcept;
  Pool& operator=(Pool&&) noexcept;

  Pick pick(std::span<const uint8_t> source, std::string_view uri, std::string_view header,
            std::optional<size_t> exclude, core::TimePoint now);
  // Usable for new traffic: up, not disabled, weight > 0.
  bool usable(size_t index) const;
  // Health or admin state from outside (health checks, the runtime API): rebuilds.
  void set_up(size_t index, bool up, core::TimePoint now);
  size_t size() const;
  bool hashes_header() const;
  const std::string& header_name() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::lb::proxy::detail
