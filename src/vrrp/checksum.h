// The Internet checksum (RFC 1071) and the IPv4/IPv6 pseudo-headers VRRP sums over.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "vrrp/ip_address.h"

namespace tandem::vrrp {

// A running one's-complement sum of big-endian 16-bit words. Chunks may have any length: an
// odd chunk leaves its last octet waiting for the next one, as if the bytes were contiguous.
class ChecksumAccumulator {
 public:
  void add(std::span<const uint8_t> data);
  void add_u16(uint16_t value);
  void add_u32(uint32_t value);
  // The checksum to store in the packet (host value, written big-endian). Over data that
  // already holds a correct checksum it is 0.
  uint16_t finish() const;

 private:
  uint64_t sum_ = 0;
  bool odd_ = false;
};

// Checksum over data alone: VRRPv2, and VRRPv3 over IPv4 with v3_checksum_as_v2.
uint16_t internet_checksum(std::span<const uint8_t> data);

// Checksum over the IPv4 pseudo-header (src, dst, zero, protocol, length) and data.
uint16_t ipv4_pseudo_checksum(const IpAddress& src, const IpAddress& dst, uint8_t protocol,
                              std::span<const uint8_t> data);

// Checksum over the IPv6 pseudo-header (RFC 8200 section 8.1) and data.
uint16_t ipv6_pseudo_checksum(const IpAddress& src, const IpAddress& dst, uint8_t next_header,
                              std::span<const uint8_t> data);

}  // namespace tandem::vrrp
