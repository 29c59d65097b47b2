// IpAddress: an IPv4 or IPv6 address as it travels in a VRRP packet: small, comparable, printable.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace tandem::vrrp {

enum class Family : uint8_t { kIpv4, kIpv6 };

std::string_view to_string(Family family);

class IpAddress {
 public:
  static constexpr size_t kV4Size = 4;
  static constexpr size_t kV6Size = 16;

  // 0.0.0.0
  constexpr IpAddress() = default;

  static constexpr IpAddress v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    IpAddress ip;
    ip.bytes_[0] = a;
    ip.bytes_[1] = b;
    ip.bytes_[2] = c;
    ip.bytes_[3] = d;
    return ip;
  }
  static IpAddress v4(std::span<const uint8_t, kV4Size> bytes);
  static IpAddress v6(std::span<const uint8_t, kV6Size> bytes);
  // Parses dotted quad or RFC 4291 text; nullopt when it is neither.
  static std::optional<IpAddress> parse(std::string_view text);

  constexpr Family family() const { return family_; }
  constexpr bool is_v4() const { return family_ == Family::kIpv4; }
  constexpr bool is_v6() const { return family_ == Family::kIpv6; }
  constexpr size_t size() const { return is_v4() ? kV4Size : kV6Size; }
  // Network byte order, 4 or 16 octets.
  std::span<const uint8_t> bytes() const { return {bytes_.data(), size()}; }

  bool is_multicast() const;
  bool is_link_local() const;
  std::string to_string() const;

  // Unused octets stay zero, so comparing every member compares the addresses.
  friend constexpr auto operator<=>(const IpAddress&, const IpAddress&) = default;

 private:
  Family family_ = Family::kIpv4;
  std::array<uint8_t, kV6Size> bytes_{};
};

std::ostream& operator<<(std::ostream& out, const IpAddress& ip);

// VRRP's multicast groups (RFC 5798 section 5.1.1.2 and 5.1.2.2).
inline constexpr IpAddress kMulticastGroupV4 = IpAddress::v4(224, 0, 0, 18);
IpAddress multicast_group_v6();  // ff02::12

}  // namespace tandem::vrrp
