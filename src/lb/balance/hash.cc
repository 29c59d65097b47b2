// Request hashing for `balance source|uri|hdr`: haproxy's hash functions and key extraction.
#include "lb/balance/hash.h"

#include <array>

namespace tandem::lb {
namespace {

// haproxy reads keys through a plain (signed on x86) char; doing the same keeps our values
// equal to its own for bytes >= 0x80, e.g. in IPv4 addresses.
uint32_t signed_byte(char c) {
  return static_cast<uint32_t>(static_cast<int32_t>(static_cast<signed char>(c)));
}

// A shift by 32 is undefined; x86 masks it to 0, which is what haproxy's wt6 relies on.
uint32_t rotl(uint32_t v, uint32_t s) {
  return (v << (s & 31)) | (v >> ((32 - s) & 31));
}

constexpr std::array<uint32_t, 256> make_crc32_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr std::array<uint32_t, 256> kCrc32Table = make_crc32_table();

std::string_view as_chars(std::span<const uint8_t> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

}  // namespace

uint32_t hash_sdbm(std::string_view data) {
  uint32_t h = 0;
  for (char c : data) h = signed_byte(c) + (h << 6) + (h << 16) - h;
  return h;
}

uint32_t hash_djb2(std::string_view data) {
  uint32_t h = 5381;
  for (char c : data) h = (h << 5) + h + signed_byte(c);
  return h;
}

uint32_t hash_wt6(std::string_view data) {
  uint32_t h0 = 0xa53c965a;
  uint32_t h1 = 0x5ca6953a;
  uint32_t step0 = 6;
  uint32_t step1 = 18;
  for (char c : data) {
    uint32_t t = signed_byte(c);
    h0 = ~(h0 ^ t);
    h1 = ~(h1 + t);
    t = rotl(h1, step0);
    h1 = rotl(h0, step1);
    h0 = t;
    t = ((h0 >> 16) ^ h1) & 0xffff;
    step0 = t & 0x1f;
    step1 = t >> 11;
  }
  return h0 ^ h1;
}

uint32_t hash_crc32(std::string_view data) {
  uint32_t c = 0xffffffffu;
  for (char ch : data) c = kCrc32Table[(c ^ static_cast<uint8_t>(ch)) & 0xff] ^ (c >> 8);
  return ~c;
}

uint32_t hash_avalanche(uint32_t a) {
  a = (a + 0x7ed55d16) + (a << 12);
  a = (a ^ 0xc761c23c) ^ (a >> 19);
  a = (a + 0x165667b1) + (a << 5);
  a = (a + 0xd3a2646c) ^ (a << 9);
  a = (a + 0xfd7046c5) + (a << 3);
  a = (a ^ 0xb55a4f09) ^ (a >> 16);
  return a;
}

std::string_view uri_hash_part(std::string_view uri, const UriHashOptions& opt) {
  if (opt.path_only && !uri.empty() && uri.front() != '/') {
    // An absolute URI: the key starts at the first '/' after "scheme://authority".
    const size_t scheme = uri.find("://");
    const size_t from = scheme == std::string_view::npos ? 0 : scheme + 3;
    const size_t slash = uri.find('/', from);
    uri = slash == std::string_view::npos ? std::string_view{} : uri.substr(slash);
  }
  if (opt.len != 0 && uri.size() > opt.len) uri = uri.substr(0, opt.len);
  uint32_t slashes = 0;
  size_t end = 0;
  for (; end < uri.size(); ++end) {
    const char c = uri[end];
    // depth N keeps N directory levels: stop before the (N+1)th slash.
    if (c == '/' && opt.depth != 0 && ++slashes > opt.depth) break;
    if (c == '?' && !opt.whole) break;
  }
  return uri.substr(0, end);
}

std::string_view domain_part(std::string_view host) {
  const size_t last_dot = host.rfind('.');
  if (last_dot == std::string_view::npos) return host;
  const size_t prev_dot = last_dot == 0 ? std::string_view::npos : host.rfind('.', last_dot - 1);
  const size_t start = prev_dot == std::string_view::npos ? 0 : prev_dot + 1;
  return host.substr(start, last_dot - start);
}

std::optional<uint32_t> request_hash(const BalanceSpec& spec, const PickContext& ctx) {
  std::string_view key;
  switch (spec.algorithm) {
    case Algorithm::kSource:
      key = as_chars(ctx.source);
      break;
    case Algorithm::kUri:
      key = uri_hash_part(ctx.uri, spec.uri);
      break;
    case Algorithm::kHdr:
      key = spec.hdr_use_domain_only ? domain_part(ctx.header) : ctx.header;
      break;
    default:
      return std::nullopt;
  }
  if (key.empty()) return std::nullopt;

  uint32_t h = 0;
  bool avalanche = spec.hash_avalanche;
  switch (spec.hash_function) {
    case HashFunction::kDefault:
      h = hash_sdbm(key);
      avalanche = avalanche || spec.hash_method == HashMethod::kConsistent;
      break;
    case HashFunction::kSdbm:
      h = hash_sdbm(key);
      break;
    case HashFunction::kDjb2:
      h = hash_djb2(key);
      break;
    case HashFunction::kWt6:
      h = hash_wt6(key);
      break;
    case HashFunction::kCrc32:
      h = hash_crc32(key);
      break;
  }
  return avalanche ? hash_avalanche(h) : h;
}

}  // namespace tandem::lb
