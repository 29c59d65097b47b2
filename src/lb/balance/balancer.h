// The load-balancing algorithms of tandem-lb behind one small interface: pure, they read a view
// of the pool and the time and name a server (haproxy's `balance` and `hash-type`).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/clock.h"

namespace tandem::lb {

inline constexpr uint32_t kMaxWeight = 256;
// Effective weights are user weights times this, as haproxy's BE_WEIGHT_SCALE, so a slowstart
// ramp has fine steps and a consistent-hash server owns weight * 16 points on the ring.
inline constexpr uint32_t kWeightScale = 16;

// What the algorithms read of one server. Cheap to copy; the caller keeps one array per backend
// and passes the same array (same servers, same order) to rebuild() and pick().
struct ServerView {
  uint32_t id = 0;  // haproxy's server "id": orders `first`, places consistent-hash points
  std::string_view name;
  uint32_t weight = 1;  // configured (user) weight 0..256; 0 = no new traffic
  bool up = true;       // health: a DOWN server gets no new traffic
  bool backup = false;
  bool draining = false;  // existing sessions stay (the caller's business); no new ones
  bool maint = false;
  uint32_t active_conns = 0;
  uint32_t queued = 0;   // requests waiting for this very server (e.g. persistence)
  uint32_t maxconn = 0;  // 0 = unlimited
  core::TimePoint up_since{};
  core::Duration slowstart{};  // 0 = none; the caller leaves it 0 for servers up at start
};

enum class Algorithm : uint8_t {
  kRoundRobin,
  kStaticRr,
  kLeastConn,
  kFirst,
  kSource,
  kUri,
  kHdr,
  kRandom,
};
std::string_view to_string(Algorithm a);  // haproxy's keyword: "roundrobin", "static-rr", ...

enum class HashMethod : uint8_t { kMapBased, kConsistent };
// kDefault is sdbm, with the avalanche modifier when the type is consistent (as haproxy).
enum class HashFunction : uint8_t { kDefault, kSdbm, kDjb2, kWt6, kCrc32 };

// `balance uri [whole] [len N] [depth N] [path-only]`.
struct UriHashOptions {
  bool whole = false;      // keep the query string
  uint32_t len = 0;        // 0 = no limit: hash at most this many characters
  uint32_t depth = 0;      // 0 = no limit: hash at most this many directory levels
  bool path_only = false;  // skip scheme://authority of an absolute URI
};

struct BalanceSpec {
  Algorithm algorithm = Algorithm::kRoundRobin;
  HashMethod hash_method = HashMethod::kMapBased;
  HashFunction hash_function = HashFunction::kDefault;
  bool hash_avalanche = false;  // the explicit `avalanche` modifier
  std::string hdr_name;         // for the caller, which looks the header up
  bool hdr_use_domain_only = false;
  UriHashOptions uri;
  uint32_t random_draws = 2;  // `random(N)`; haproxy's default is 2
  bool all_backups = false;   // `option allbackups`
};

// Injectable randomness: the data path seeds one per thread, tests a fixed one.
class RandomSource {
 public:
  virtual ~RandomSource() = default;
  virtual uint64_t next() = 0;
};

// SplitMix64: tiny, fast and good enough to spread draws; not for secrets.
class SplitMix64 final : public RandomSource {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() override;

 private:
  uint64_t state_;
};

// The request as the algorithms see it. Every field is optional: a hash algorithm without its
// key falls back to round robin, as haproxy does.
struct PickContext {
  std::span<const uint8_t> source;  // client address bytes in network order (4 or 16)
  std::string_view uri;             // request target as received
  std::string_view header;          // value of hdr(name); empty = absent
  RandomSource* random = nullptr;   // for `random`; null = the balancer's own fixed-seed one
  std::optional<uint32_t> exclude;  // retry/redispatch: avoid this server when another exists
};

enum class PickOutcome : uint8_t {
  kPicked,    // `id` names the server
  kNoServer,  // no usable server, active or backup: the caller answers 503
  kAllFull,   // usable servers exist but all are at maxconn: the caller queues
  // The request's key belongs to server `id`, which is at maxconn (or has requests waiting):
  // the caller queues for that very server, as haproxy does for hashed requests.
  kServerFull,
};

struct PickResult {
  PickOutcome outcome = PickOutcome::kNoServer;
  uint32_t id = 0;  // meaningful only when picked or kServerFull

  static PickResult server(uint32_t server_id) { return {PickOutcome::kPicked, server_id}; }
  static PickResult no_server() { return {PickOutcome::kNoServer, 0}; }
  static PickResult all_full() { return {PickOutcome::kAllFull, 0}; }
  static PickResult server_full(uint32_t server_id) {
    return {PickOutcome::kServerFull, server_id};
  }
  bool picked() const { return outcome == PickOutcome::kPicked; }
  friend bool operator==(const PickResult&, const PickResult&) = default;
};

// One balancer per backend per thread: pick() updates rotation state, so it is not shared.
class Balancer {
 public:
  virtual ~Balancer() = default;
  // Call when servers are added or removed, or when weights or states change. The static
  // algorithms (static-rr, map-based hashing) read weights and states only here.
  virtual void rebuild(std::span<const ServerView> servers, core::TimePoint now) = 0;
  // `servers` is the array last given to rebuild(), with fresh dynamic fields (conns, health,
  // drain, weights). A different size is taken as a new pool and rebuilt first.
  virtual PickResult pick(const PickContext& ctx, std::span<const ServerView> servers,
                          core::TimePoint now) = 0;
};
using BalancerPtr = std::unique_ptr<Balancer>;

BalancerPtr make_balancer(const BalanceSpec& spec);

// A server may take new traffic at all: up, not in maintenance, not draining, weight > 0.
bool is_usable(const ServerView& s);
// Weight in kWeightScale units, 0 when not usable; during slowstart it grows as haproxy's
// does: weight * (1 + kWeightScale * elapsed / slowstart), in whole seconds, so from 1/16 of the
// full weight to all of it in 16 steps.
uint32_t effective_weight(const ServerView& s, core::TimePoint now);
// maxconn, lowered in proportion during slowstart (never below 1); 0 = unlimited.
uint32_t effective_maxconn(const ServerView& s, core::TimePoint now);
// Below maxconn and nobody waiting for this server in particular.
bool has_free_slot(const ServerView& s, core::TimePoint now);

}  // namespace tandem::lb
