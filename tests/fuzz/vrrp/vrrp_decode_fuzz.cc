// Fuzzes the VRRP decoders: any bytes as an IPv4 datagram and as an IPv6 payload, under
// permissive and strict checks; whatever decodes must re-encode to the same message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "vrrp/codec.h"

namespace {

using tandem::vrrp::AuthType;
using tandem::vrrp::Decoded;
using tandem::vrrp::IpAddress;
using tandem::vrrp::RxCheck;

void check_round_trip(const Decoded& d, bool v3_checksum_as_v2) {
  if (!d.ok()) return;
  auto again = tandem::vrrp::encode(d.advert, {d.ip.source, d.ip.destination, v3_checksum_as_v2});
  if (!again || again->size() != d.ip.payload.size()) std::abort();
  // In ones' complement 0x0000 and 0xffff are both zero: a sender may put either in the
  // checksum field and the message verifies, while encode() always writes the one it computes.
  std::vector<uint8_t> seen(d.ip.payload.begin(), d.ip.payload.end());
  const bool zero_pair =
      (seen[6] == 0xff && seen[7] == 0xff && (*again)[6] == 0 && (*again)[7] == 0) ||
      (seen[6] == 0 && seen[7] == 0 && (*again)[6] == 0xff && (*again)[7] == 0xff);
  if (zero_pair) seen[6] = (*again)[6], seen[7] = (*again)[7];
  if (seen != *again) std::abort();  // a message we accept must be one we can produce
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> in(data, size);
  static const std::vector<IpAddress> vips4 = {IpAddress::v4(198, 18, 0, 100)};
  static const IpAddress src6 = *IpAddress::parse("fe80::1");
  static const std::vector<IpAddress> vips6 = {*IpAddress::parse("2001:db8::100")};

  RxCheck loose;
  loose.check_ttl = false;
  RxCheck strict;
  strict.version = 2;
  strict.vrid = 51;
  strict.auth_type = AuthType::kPass;
  strict.auth_data = tandem::vrrp::auth_pass("secret12");
  strict.v2_interval = 1;
  strict.addresses = vips4;
  for (bool as_v2 : {false, true}) {
    loose.v3_checksum_as_v2 = as_v2;
    check_round_trip(tandem::vrrp::decode_ipv4_packet(in, loose), as_v2);
    check_round_trip(
        tandem::vrrp::decode_ipv6(src6, tandem::vrrp::multicast_group_v6(), 255, in, loose), as_v2);
  }
  check_round_trip(tandem::vrrp::decode_ipv4_packet(in, strict), false);
  strict.version = 3;
  strict.addresses = vips6;
  (void)tandem::vrrp::decode_ipv6(src6, src6, 255, in, strict);
  // The VRRP message alone over IPv4, as if the IP header were already taken off.
  (void)tandem::vrrp::decode({IpAddress::v4(198, 18, 0, 1), IpAddress::v4(224, 0, 0, 18), 255, in},
                             loose);
  return 0;
}
