#include "vrrp/checksum.h"

namespace tandem::vrrp {

void ChecksumAccumulator::add(std::span<const uint8_t> data) {
  // Octet by octet: VRRP messages are tens of bytes, and this keeps odd chunks right.
  for (uint8_t b : data) {
    sum_ += odd_ ? b : static_cast<uint32_t>(b) << 8;
    odd_ = !odd_;
  }
}

void ChecksumAccumulator::add_u16(uint16_t value) {
  const uint8_t b[2] = {static_cast<uint8_t>(value >> 8), static_cast<uint8_t>(value)};
  add(b);
}

void ChecksumAccumulator::add_u32(uint32_t value) {
  add_u16(static_cast<uint16_t>(value >> 16));
  add_u16(static_cast<uint16_t>(value));
}

uint16_t ChecksumAccumulator::finish() const {
  uint64_t s = sum_;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(~s);
}

uint16_t internet_checksum(std::span<const uint8_t> data) {
  ChecksumAccumulator acc;
  acc.add(data);
  return acc.finish();
}

uint16_t ipv4_pseudo_checksum(const IpAddress& src, const IpAddress& dst, uint8_t protocol,
                              std::span<const uint8_t> data) {
  ChecksumAccumulator acc;
  acc.add(src.bytes());
  acc.add(dst.bytes());
  acc.add_u16(protocol);  // a zero octet, then the protocol
  acc.add_u16(static_cast<uint16_t>(data.size()));
  acc.add(data);
  return acc.finish();
}

uint16_t ipv6_pseudo_checksum(const IpAddress& src, const IpAddress& dst, uint8_t next_header,
                              std::span<const uint8_t> data) {
  ChecksumAccumulator acc;
  acc.add(src.bytes());
  acc.add(dst.bytes());
  acc.add_u32(static_cast<uint32_t>(data.size()));
  acc.add_u32(next_header);  // three zero octets, then the next header
  acc.add(data);
  return acc.finish();
}

}  // namespace tandem::vrrp
