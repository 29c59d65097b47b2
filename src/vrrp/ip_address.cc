#include "vrrp/ip_address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <ostream>

namespace tandem::vrrp {

std::string_view to_string(Family family) {
  return family == Family::kIpv4 ? "IPv4" : "IPv6";
}

IpAddress IpAddress::v4(std::span<const uint8_t, kV4Size> bytes) {
  return v4(bytes[0], bytes[1], bytes[2], bytes[3]);
}

IpAddress IpAddress::v6(std::span<const uint8_t, kV6Size> bytes) {
  IpAddress ip;
  ip.family_ = Family::kIpv6;
  std::copy(bytes.begin(), bytes.end(), ip.bytes_.begin());
  return ip;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  // inet_pton wants a terminated string; longer text cannot be an address anyway.
  if (text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  const std::string z(text);
  std::array<uint8_t, kV6Size> buf{};
  if (inet_pton(AF_INET, z.c_str(), buf.data()) == 1) {
    return v4(std::span<const uint8_t, kV4Size>(buf.data(), kV4Size));
  }
  if (inet_pton(AF_INET6, z.c_str(), buf.data()) == 1) return v6(buf);
  return std::nullopt;
}

bool IpAddress::is_multicast() const {
  return is_v4() ? (bytes_[0] & 0xf0) == 0xe0 : bytes_[0] == 0xff;
}

bool IpAddress::is_link_local() const {
  if (is_v4()) return bytes_[0] == 169 && bytes_[1] == 254;
  return bytes_[0] == 0xfe && (bytes_[1] & 0xc0) == 0x80;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes_.data(), buf, sizeof buf);
  return buf;
}

std::ostream& operator<<(std::ostream& out, const IpAddress& ip) {
  return out << ip.to_string();
}

IpAddress multicast_group_v6() {
  std::array<uint8_t, IpAddress::kV6Size> b{};
  b[0] = 0xff;
  b[1] = 0x02;
  b[15] = 0x12;
  return IpAddress::v6(b);
}

}  // namespace tandem::vrrp
