// Request hashing for `balance source|uri|hdr`: haproxy's hash functions (stable across
// restarts and machines, unlike std::hash) and the part of each key that is hashed.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "lb/balance/balancer.h"

namespace tandem::lb {

uint32_t hash_sdbm(std::string_view data);
uint32_t hash_djb2(std::string_view data);
uint32_t hash_wt6(std::string_view data);
uint32_t hash_crc32(std::string_view data);
// Bob Jenkins' 32-bit integer mix, haproxy's "avalanche" modifier and ring point hash.
uint32_t hash_avalanche(uint32_t a);

// The hash of the request's key under `spec`, or nullopt when the key is missing (no source
// address, empty URI, absent header): the caller falls back to round robin.
std::optional<uint32_t> request_hash(const BalanceSpec& spec, const PickContext& ctx);

// The part of a URI that `balance uri` hashes under `opt` (up to '?', len, depth, path-only).
std::string_view uri_hash_part(std::string_view uri, const UriHashOptions& opt);
// `use_domain_only`: "haproxy.1wt.eu" -> "1wt", "1wt.eu" -> "1wt", "localhost" -> itself.
std::string_view domain_part(std::string_view host);

}  // namespace tandem::lb
