#include "vrrp/codec.h"

#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <sstream>
#include <vector>

#include "vrrp/checksum.h"

namespace tandem::vrrp {
namespace {

using Bytes = std::vector<uint8_t>;

// Whole IPv4 datagrams and an IPv6 payload as keepalived 2.2.7 sent them (see
// shared/vectors/vrrp); each test mutates one field and so meets one drop reason.
const Bytes kV2Unicast = {0x45, 0xc0, 0x00, 0x28, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70,
                          0x2e, 0x7d, 0xc6, 0x12, 0x00, 0x01, 0xc6, 0x12, 0x00, 0x02,
                          0x21, 0x33, 0x65, 0x01, 0x00, 0x01, 0xb3, 0x53, 0xc6, 0x12,
                          0x00, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
const Bytes kV2Pass = {0x45, 0xc0, 0x00, 0x2c, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0x14,
                       0x7b, 0xc6, 0x12, 0x00, 0x01, 0xe0, 0x00, 0x00, 0x12, 0x21, 0x34,
                       0x96, 0x02, 0x01, 0x01, 0x4d, 0x59, 0xc6, 0x12, 0x00, 0x65, 0xc6,
                       0x12, 0x00, 0x66, 's',  'e',  'c',  'r',  'e',  't',  '1',  '2'};
const Bytes kV3Unicast = {0x45, 0xc0, 0x00, 0x20, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0x2e,
                          0x85, 0xc6, 0x12, 0x00, 0x01, 0xc6, 0x12, 0x00, 0x02, 0x31, 0x35,
                          0xc8, 0x01, 0x00, 0x0a, 0xb3, 0xa0, 0xc6, 0x12, 0x00, 0x67};
const Bytes kV3Ipv6Payload = {0x31, 0x36, 0x78, 0x01, 0x00, 0x64, 0x71, 0x65,
                              0x20, 0x01, 0x0d, 0xb8, 0,    0,    0,    0,
                              0,    0,    0,    0,    0,    0,    0x01, 0x00};

const IpAddress kSrc4 = IpAddress::v4(198, 18, 0, 1);
const IpAddress kDst4 = IpAddress::v4(198, 18, 0, 2);
const IpAddress kSrc6 = *IpAddress::parse("fe80::5c9f:66ff:feda:f5ad");
const IpAddress kDst6 = multicast_group_v6();

// Recomputes the IPv4 header checksum and, unless told not to, the VRRP checksum, so that a
// mutation trips only the check it aims at.
void refresh(Bytes& pkt, bool vrrp_too = true, bool v3_checksum_as_v2 = false) {
  const size_t ihl = static_cast<size_t>(pkt[0] & 0x0f) * 4;
  if (vrrp_too && pkt.size() >= ihl + kHeaderSize) {
    const auto src = IpAddress::v4(std::span(pkt).subspan<12, 4>());
    const auto dst = IpAddress::v4(std::span(pkt).subspan<16, 4>());
    std::span<uint8_t> msg = std::span(pkt).subspan(ihl);
    msg[6] = msg[7] = 0;
    const uint16_t c = vrrp_checksum(msg[0] >> 4, src, dst, msg, v3_checksum_as_v2);
    msg[6] = static_cast<uint8_t>(c >> 8);
    msg[7] = static_cast<uint8_t>(c);
  }
  pkt[10] = pkt[11] = 0;
  const uint16_t c = internet_checksum(std::span(pkt).first(std::min(ihl, pkt.size())));
  pkt[10] = static_cast<uint8_t>(c >> 8);
  pkt[11] = static_cast<uint8_t>(c);
}

Bytes mutated(Bytes pkt, const std::function<void(Bytes&)>& change, bool vrrp_too = true) {
  change(pkt);
  refresh(pkt, vrrp_too);
  return pkt;
}

RxStatus status4(const Bytes& pkt, const RxCheck& check = {}) {
  return decode_ipv4_packet(pkt, check).status;
}

RxCheck v2_unicast_config() {
  static const std::vector<IpAddress> vips = {IpAddress::v4(198, 18, 0, 100)};
  RxCheck c;
  c.version = 2;
  c.vrid = 51;
  c.auth_type = AuthType::kNone;
  c.v2_interval = 1;
  c.addresses = vips;
  return c;
}

RxCheck v2_pass_config() {
  static const std::vector<IpAddress> vips = {IpAddress::v4(198, 18, 0, 101),
                                              IpAddress::v4(198, 18, 0, 102)};
  RxCheck c;
  c.version = 2;
  c.vrid = 52;
  c.auth_type = AuthType::kPass;
  c.auth_data = auth_pass("secret12");
  c.v2_interval = 1;
  c.addresses = vips;
  return c;
}

TEST(VrrpDecode, CapturedPacketsPass) {
  EXPECT_EQ(status4(kV2Unicast, v2_unicast_config()), RxStatus::kOk);
  EXPECT_EQ(status4(kV2Pass, v2_pass_config()), RxStatus::kOk);
  EXPECT_EQ(status4(kV3Unicast), RxStatus::kOk);
  EXPECT_EQ(decode_ipv6(kSrc6, kDst6, 255, kV3Ipv6Payload, {}).status, RxStatus::kOk);
}

TEST(VrrpDecode, FieldsOfAV2PassAdvert) {
  const Decoded d = decode_ipv4_packet(kV2Pass, v2_pass_config());
  ASSERT_TRUE(d.ok()) << d.status;
  EXPECT_EQ(d.ip.source, kSrc4);
  EXPECT_EQ(d.ip.destination, kMulticastGroupV4);
  EXPECT_EQ(d.ip.ttl, 255);
  EXPECT_EQ(d.ip.payload.size(), 24u);
  EXPECT_EQ(d.advert.version, 2);
  EXPECT_EQ(d.advert.type, 1);
  EXPECT_EQ(d.advert.vrid, 52);
  EXPECT_EQ(d.advert.priority, 150);
  EXPECT_EQ(d.advert.address_count, 2);
  EXPECT_EQ(d.advert.auth_type, 1);
  EXPECT_EQ(d.advert.interval_raw, 1);
  EXPECT_EQ(d.advert.interval(), std::chrono::seconds(1));
  EXPECT_EQ(d.advert.checksum, 0x4d59);
  EXPECT_EQ(d.advert.auth_data, auth_pass("secret12"));
  EXPECT_EQ(d.advert.to_string(),
            "v2 type 1 vrid 52 prio 150 interval 1000ms auth 1 csum 0x4d59 count 2 "
            "[198.18.0.101 198.18.0.102]");
}

TEST(VrrpDecode, TooShort) {
  EXPECT_EQ(status4(Bytes(kV2Unicast.begin(), kV2Unicast.begin() + 19)), RxStatus::kTooShort);
  // Cut below the IPv4 total length.
  EXPECT_EQ(status4(Bytes(kV2Unicast.begin(), kV2Unicast.end() - 1)), RxStatus::kTooShort);
  // A datagram whose payload is shorter than the 8-octet VRRP header.
  Bytes p(kV3Unicast.begin(), kV3Unicast.begin() + 27);
  p[3] = 27;
  refresh(p, false);
  EXPECT_EQ(status4(p), RxStatus::kTooShort);
  EXPECT_EQ(decode_ipv6(kSrc6, kDst6, 255, std::span(kV3Ipv6Payload).first(7), {}).status,
            RxStatus::kTooShort);
  EXPECT_EQ(decode_ipv6(kSrc6, kDst6, 255, {}, {}).status, RxStatus::kTooShort);
}

TEST(VrrpDecode, TrailingLinkPaddingIsIgnored) {
  Bytes p = kV3Unicast;
  p.resize(46, 0);  // as an Ethernet minimum frame would pad it
  EXPECT_EQ(status4(p), RxStatus::kOk);
}

TEST(VrrpDecode, BadIpHeader) {
  EXPECT_EQ(status4(mutated(kV3Unicast, [](Bytes& p) { p[0] = 0x65; })), RxStatus::kBadIpHeader);
  EXPECT_EQ(status4(mutated(kV3Unicast, [](Bytes& p) { p[0] = 0x44; })), RxStatus::kBadIpHeader);
  EXPECT_EQ(status4(mutated(kV3Unicast, [](Bytes& p) { p[3] = 19; })), RxStatus::kBadIpHeader);
  EXPECT_EQ(status4(mutated(kV3Unicast, [](Bytes& p) { p[6] = 0x20; })),  // more fragments
            RxStatus::kBadIpHeader);
  EXPECT_EQ(status4(mutated(kV3Unicast, [](Bytes& p) { p[7] = 0x01; })),  // fragment offset
            RxStatus::kBadIpHeader);
  // Don't Fragment is fine.
  EXPECT_EQ(status4(mutated(kV3Unicast, [](Bytes& p) { p[6] = 0x40; })), RxStatus::kOk);
}

TEST(VrrpDecode, IpOptionsAreSkipped) {
  Bytes p(kV3Unicast.begin(), kV3Unicast.begin() + 20);
  p[0] = 0x46;
  p[3] = 36;
  p.insert(p.end(), {0x94, 0x04, 0x00, 0x00});  // router alert
  p.insert(p.end(), kV3Unicast.begin() + 20, kV3Unicast.end());
  refresh(p, false);
  const Decoded d = decode_ipv4_packet(p, {});
  EXPECT_EQ(d.status, RxStatus::kOk);
  EXPECT_EQ(d.advert.vrid, 53);
}

TEST(VrrpDecode, BadIpChecksum) {
  Bytes p = kV3Unicast;
  p[11] ^= 1;
  EXPECT_EQ(status4(p), RxStatus::kBadIpChecksum);
}

TEST(VrrpDecode, NotVrrp) {
  EXPECT_EQ(status4(mutated(kV3Unicast, [](Bytes& p) { p[9] = 17; })), RxStatus::kNotVrrp);
  EXPECT_EQ(status4(mutated(kV2Pass, [](Bytes& p) { p[9] = 51; })), RxStatus::kNotVrrp);  // AH
}

TEST(VrrpDecode, TtlIsCheckedOnlyWhenAsked) {
  const Bytes p = mutated(kV2Unicast, [](Bytes& b) { b[8] = 254; });
  RxCheck check = v2_unicast_config();
  EXPECT_EQ(status4(p, check), RxStatus::kBadTtl);
  check.check_ttl = false;  // unicast without the check configured
  EXPECT_EQ(status4(p, check), RxStatus::kOk);
  EXPECT_EQ(decode_ipv6(kSrc6, kDst6, 254, kV3Ipv6Payload, {}).status, RxStatus::kBadTtl);
  EXPECT_EQ(decode_ipv6(kSrc6, kDst6, 1, kV3Ipv6Payload, {.check_ttl = false}).status,
            RxStatus::kOk);
}

TEST(VrrpDecode, BadVersion) {
  for (uint8_t v : {0, 1, 4, 15}) {
    const Bytes p =
        mutated(kV3Unicast, [v](Bytes& b) { b[20] = static_cast<uint8_t>(v << 4 | 1); });
    EXPECT_EQ(status4(p), RxStatus::kBadVersion) << int(v);
  }
  EXPECT_EQ(status4(kV3Unicast, {.version = 2}), RxStatus::kBadVersion);
  EXPECT_EQ(status4(kV2Unicast, {.version = 3}), RxStatus::kBadVersion);
}

TEST(VrrpDecode, BadAddressFamily) {
  // VRRPv2 is IPv4 only.
  Bytes v2in6 = {0x21, 0x36, 0x78, 0x01, 0x00, 0x01, 0x00, 0x00};
  v2in6.insert(v2in6.end(), kV3Ipv6Payload.begin() + 8, kV3Ipv6Payload.end());
  v2in6.insert(v2in6.end(), kAuthDataSize, 0);
  EXPECT_EQ(decode_ipv6(kSrc6, kDst6, 255, v2in6, {}).status, RxStatus::kBadAddressFamily);
  EXPECT_EQ(decode_ipv6(kSrc4, kDst6, 255, kV3Ipv6Payload, {}).status, RxStatus::kBadAddressFamily);
  EXPECT_EQ(decode_ipv6(kSrc4, kDst4, 255, kV3Ipv6Payload, {}).status, RxStatus::kBadAddressFamily);
  EXPECT_EQ(decode({kSrc6, kDst4, 255, kV3Ipv6Payload}, {}).status, RxStatus::kBadAddressFamily);
}

TEST(VrrpDecode, BadType) {
  for (uint8_t t : {0, 2, 15}) {
    const Bytes p = mutated(kV2Unicast, [t](Bytes& b) { b[20] = static_cast<uint8_t>(0x20 | t); });
    EXPECT_EQ(status4(p), RxStatus::kBadType) << int(t);
  }
}

TEST(VrrpDecode, LengthMustMatchCount) {
  EXPECT_EQ(status4(mutated(kV2Pass, [](Bytes& b) { b[23] = 3; })), RxStatus::kBadLength);
  EXPECT_EQ(status4(mutated(kV2Pass, [](Bytes& b) { b[23] = 1; })), RxStatus::kBadLength);
  EXPECT_EQ(status4(mutated(kV2Pass, [](Bytes& b) { b[23] = 255; })), RxStatus::kBadLength);
  // v2 without its 8 octets of auth data.
  Bytes p(kV2Unicast.begin(), kV2Unicast.end() - 8);
  p[3] = 32;
  refresh(p);
  EXPECT_EQ(status4(p), RxStatus::kBadLength);
  // v3 with auth data appended, as a confused v2 implementation might send.
  Bytes q = kV3Unicast;
  q.insert(q.end(), 8, 0);
  q[3] = 40;
  refresh(q);
  EXPECT_EQ(status4(q), RxStatus::kBadLength);
  Bytes six = kV3Ipv6Payload;
  six.push_back(0);
  EXPECT_EQ(decode_ipv6(kSrc6, kDst6, 255, six, {}).status, RxStatus::kBadLength);
}

TEST(VrrpDecode, CountZeroIsWellFormed) {
  Bytes p(kV3Unicast.begin(), kV3Unicast.end() - 4);
  p[3] = 28;
  p[23] = 0;
  refresh(p);
  const Decoded d = decode_ipv4_packet(p, {});
  EXPECT_EQ(d.status, RxStatus::kOk);
  EXPECT_TRUE(d.advert.addresses.empty());
}

TEST(VrrpDecode, BadChecksum) {
  EXPECT_EQ(status4(mutated(
                kV2Unicast, [](Bytes& b) { b[27] ^= 0x01; }, false)),
            RxStatus::kBadChecksum);
  EXPECT_EQ(status4(mutated(
                kV2Pass, [](Bytes& b) { b[43] = '3'; }, false)),  // auth data counts
            RxStatus::kBadChecksum);
  EXPECT_EQ(status4(mutated(
                kV3Unicast, [](Bytes& b) { b[31] = 0x68; }, false)),
            RxStatus::kBadChecksum);
  // v3 over IPv4 sums the pseudo-header: another destination breaks it.
  EXPECT_EQ(status4(mutated(
                kV3Unicast, [](Bytes& b) { b[19] = 3; }, false)),
            RxStatus::kBadChecksum);
  // v2 does not: the same change leaves a v2 message valid.
  EXPECT_EQ(status4(mutated(
                kV2Unicast, [](Bytes& b) { b[19] = 3; }, false)),
            RxStatus::kOk);
  Bytes six = kV3Ipv6Payload;
  six[7] ^= 0x80;
  EXPECT_EQ(decode_ipv6(kSrc6, kDst6, 255, six, {}).status, RxStatus::kBadChecksum);
  // The IPv6 pseudo-header holds the source.
  EXPECT_EQ(decode_ipv6(*IpAddress::parse("fe80::1"), kDst6, 255, kV3Ipv6Payload, {}).status,
            RxStatus::kBadChecksum);
}

TEST(VrrpDecode, V3Ipv4ChecksumModes) {
  // Keepalived 2.2 (default): with the pseudo-header. RFC 9568 peers: without.
  const RxCheck as_v2{.v3_checksum_as_v2 = true};
  EXPECT_EQ(status4(kV3Unicast), RxStatus::kOk);
  EXPECT_EQ(status4(kV3Unicast, as_v2), RxStatus::kBadChecksum);

  Bytes plain = kV3Unicast;
  refresh(plain, true, /*v3_checksum_as_v2=*/true);
  EXPECT_NE(plain, kV3Unicast);
  EXPECT_EQ(status4(plain), RxStatus::kBadChecksum);
  EXPECT_EQ(status4(plain, as_v2), RxStatus::kOk);

  // The option concerns v3 over IPv4 only: v2 and IPv6 are unaffected.
  EXPECT_EQ(status4(kV2Unicast, as_v2), RxStatus::kOk);
  EXPECT_EQ(decode_ipv6(kSrc6, kDst6, 255, kV3Ipv6Payload, as_v2).status, RxStatus::kOk);
}

TEST(VrrpDecode, VridMismatch) {
  EXPECT_EQ(status4(kV2Unicast, {.vrid = 52}), RxStatus::kVridMismatch);
  const Decoded d = decode_ipv4_packet(kV3Unicast, {.vrid = 1});
  EXPECT_EQ(d.status, RxStatus::kVridMismatch);
  EXPECT_EQ(d.advert.vrid, 53);  // left for the log line
  EXPECT_EQ(status4(kV3Unicast, {.vrid = 53}), RxStatus::kOk);
}

TEST(VrrpDecode, AuthTypes) {
  const auto with_auth_type = [](uint8_t t) {
    return mutated(kV2Pass, [t](Bytes& b) { b[24] = t; });
  };
  EXPECT_EQ(status4(with_auth_type(3)), RxStatus::kAuthTypeUnknown);
  EXPECT_EQ(status4(with_auth_type(255)), RxStatus::kAuthTypeUnknown);
  EXPECT_EQ(status4(with_auth_type(2)), RxStatus::kAuthAhUnsupported);
  EXPECT_EQ(status4(with_auth_type(2), v2_pass_config()), RxStatus::kAuthAhUnsupported);
  EXPECT_EQ(status4(with_auth_type(0), v2_pass_config()), RxStatus::kAuthTypeMismatch);
  RxCheck none = v2_pass_config();
  none.auth_type = AuthType::kNone;
  EXPECT_EQ(status4(kV2Pass, none), RxStatus::kAuthTypeMismatch);
  // Without a configured type, both none and PASS decode.
  EXPECT_EQ(status4(with_auth_type(0)), RxStatus::kOk);
  EXPECT_EQ(status4(kV2Pass), RxStatus::kOk);
}

TEST(VrrpDecode, AuthPassword) {
  RxCheck c = v2_pass_config();
  c.auth_data = auth_pass("secret13");
  const Decoded d = decode_ipv4_packet(kV2Pass, c);
  EXPECT_EQ(d.status, RxStatus::kAuthMismatch);
  EXPECT_EQ(d.advert.vrid, 52);
  // Only 8 octets travel: a longer password matches on its first 8 (keepalived truncates).
  c.auth_data = auth_pass("secret12-and-more");
  EXPECT_EQ(status4(kV2Pass, c), RxStatus::kOk);
  c.auth_data = auth_pass("secret1");  // zero padded: differs in the last octet
  EXPECT_EQ(status4(kV2Pass, c), RxStatus::kAuthMismatch);
  // A v2 message changed in its auth data (checksum fixed) is still refused.
  EXPECT_EQ(status4(mutated(kV2Pass, [](Bytes& b) { b[36] = 'S'; }), v2_pass_config()),
            RxStatus::kAuthMismatch);
}

TEST(VrrpDecode, V2IntervalMismatch) {
  RxCheck c = v2_unicast_config();
  c.v2_interval = 2;
  EXPECT_EQ(status4(kV2Unicast, c), RxStatus::kIntervalMismatch);
  c.v2_interval = 1;
  EXPECT_EQ(status4(mutated(kV2Unicast, [](Bytes& b) { b[25] = 3; }), c),
            RxStatus::kIntervalMismatch);
  // v3 adopts the master's interval: the v2 setting is not applied.
  EXPECT_EQ(status4(kV3Unicast, {.v2_interval = 5}), RxStatus::kOk);
}

TEST(VrrpDecode, Addresses) {
  const std::vector<IpAddress> two = {IpAddress::v4(198, 18, 0, 100),
                                      IpAddress::v4(198, 18, 0, 101)};
  const std::vector<IpAddress> other = {IpAddress::v4(198, 18, 0, 99)};
  const std::vector<IpAddress> none;
  EXPECT_EQ(status4(kV2Unicast, {.addresses = two}), RxStatus::kAddressCountMismatch);
  EXPECT_EQ(status4(kV2Unicast, {.addresses = none}), RxStatus::kAddressCountMismatch);
  EXPECT_EQ(status4(kV2Unicast, {.addresses = other}), RxStatus::kAddressListMismatch);
  // Order does not matter.
  const std::vector<IpAddress> swapped = {IpAddress::v4(198, 18, 0, 102),
                                          IpAddress::v4(198, 18, 0, 101)};
  EXPECT_EQ(status4(kV2Pass, {.addresses = swapped}), RxStatus::kOk);
  const std::vector<IpAddress> vip6 = {*IpAddress::parse("2001:db8::100")};
  const std::vector<IpAddress> vip6b = {*IpAddress::parse("2001:db8::101")};
  EXPECT_EQ(decode_ipv6(kSrc6, kDst6, 255, kV3Ipv6Payload, {.addresses = vip6}).status,
            RxStatus::kOk);
  EXPECT_EQ(decode_ipv6(kSrc6, kDst6, 255, kV3Ipv6Payload, {.addresses = vip6b}).status,
            RxStatus::kAddressListMismatch);
}

TEST(VrrpDecode, V3ReservedBitsAreIgnoredButKept) {
  const Bytes p = mutated(kV3Unicast, [](Bytes& b) { b[24] = 0xf0; });
  const Decoded d = decode_ipv4_packet(p, {});
  ASSERT_TRUE(d.ok()) << d.status;
  EXPECT_EQ(d.advert.reserved, 0xf);
  EXPECT_EQ(d.advert.interval_raw, 10);
  auto again = encode(d.advert, {kSrc4, kDst4});
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, Bytes(p.begin() + 20, p.end()));
}

TEST(VrrpRxStatus, AreDistinct) {
  std::set<std::string_view> names;
  for (size_t i = 0; i < kRxStatusCount; ++i) names.insert(to_string(static_cast<RxStatus>(i)));
  EXPECT_EQ(names.size(), kRxStatusCount);
  EXPECT_EQ(names.count("unknown"), 0u);
  std::ostringstream out;
  out << RxStatus::kBadTtl;
  EXPECT_EQ(out.str(), "TTL/hop limit not 255");
}

Advert v3_advert() {
  Advert a;
  a.version = 3;
  a.vrid = 53;
  a.priority = 200;
  a.interval_raw = 10;
  a.addresses = {IpAddress::v4(198, 18, 0, 103)};
  return a;
}

TEST(VrrpEncode, BuildsKeepalivedBytes) {
  auto msg = encode(v3_advert(), {kSrc4, kDst4});
  ASSERT_TRUE(msg) << msg.error().to_string();
  EXPECT_EQ(*msg, Bytes(kV3Unicast.begin() + 20, kV3Unicast.end()));
  auto pkt = encode_ipv4_packet(v3_advert(), {kSrc4, kDst4}, 1);
  ASSERT_TRUE(pkt);
  EXPECT_EQ(*pkt, kV3Unicast);

  Advert v2;
  v2.version = 2;
  v2.vrid = 52;
  v2.priority = 150;
  v2.auth_type = 1;
  v2.interval_raw = 1;
  v2.auth_data = auth_pass("secret12");
  v2.addresses = {IpAddress::v4(198, 18, 0, 101), IpAddress::v4(198, 18, 0, 102)};
  pkt = encode_ipv4_packet(v2, {kSrc4, kMulticastGroupV4}, 1);
  ASSERT_TRUE(pkt);
  EXPECT_EQ(*pkt, kV2Pass);
}

TEST(VrrpEncode, V3ChecksumAsV2) {
  auto msg = encode(v3_advert(), {kSrc4, kDst4, true});
  ASSERT_TRUE(msg);
  EXPECT_EQ(internet_checksum(*msg), 0);
  EXPECT_EQ(decode({kSrc4, kDst4, 255, *msg}, {.v3_checksum_as_v2 = true}).status, RxStatus::kOk);
  EXPECT_EQ(decode({kSrc4, kDst4, 255, *msg}, {}).status, RxStatus::kBadChecksum);
}

TEST(VrrpEncode, RefusesWhatTheWireCannotCarry) {
  Advert a = v3_advert();
  EXPECT_FALSE(encode(a, {kSrc4, kDst6}));  // mixed families
  EXPECT_FALSE(encode(a, {kSrc6, kDst6}));  // an IPv4 address in an IPv6 advert
  a.interval_raw = 0x1000;
  EXPECT_FALSE(encode(a, {kSrc4, kDst4}));
  a = v3_advert();
  a.version = 2;
  a.interval_raw = 256;
  EXPECT_FALSE(encode(a, {kSrc4, kDst4}));
  a.interval_raw = 1;
  EXPECT_TRUE(encode(a, {kSrc4, kDst4}));
  a.addresses = {*IpAddress::parse("2001:db8::1")};
  EXPECT_FALSE(encode(a, {kSrc6, kDst6}));  // v2 over IPv6
  a = v3_advert();
  a.version = 4;
  EXPECT_FALSE(encode(a, {kSrc4, kDst4}));
  a = v3_advert();
  a.addresses.assign(256, IpAddress::v4(198, 18, 0, 1));
  EXPECT_FALSE(encode(a, {kSrc4, kDst4}));
  a.addresses.resize(255);
  auto msg = encode(a, {kSrc4, kDst4});
  ASSERT_TRUE(msg);
  EXPECT_EQ(msg->size(), 8u + 255 * 4);
  EXPECT_FALSE(encode_ipv4_packet(v3_advert(), {kSrc6, kDst6}, 0));
}

TEST(VrrpEncode, RoundTripsIpv6) {
  Advert a;
  a.version = 3;
  a.vrid = 54;
  a.priority = 120;
  a.interval_raw = 100;
  a.addresses = {*IpAddress::parse("2001:db8::100")};
  auto msg = encode(a, {kSrc6, kDst6});
  ASSERT_TRUE(msg);
  EXPECT_EQ(*msg, kV3Ipv6Payload);
  const Decoded d = decode_ipv6(kSrc6, kDst6, 255, *msg, {});
  ASSERT_TRUE(d.ok());
  a.address_count = 1;
  a.checksum = 0x7165;
  EXPECT_EQ(d.advert, a);
}

TEST(VrrpAdvert, Interval) {
  Advert a;
  a.version = 3;
  EXPECT_TRUE(a.set_interval(Centiseconds(10)));
  EXPECT_EQ(a.interval_raw, 10);
  EXPECT_EQ(a.interval(), std::chrono::milliseconds(100));
  EXPECT_TRUE(a.set_interval(std::chrono::seconds(40)));
  EXPECT_EQ(a.interval_raw, 4000);
  EXPECT_FALSE(a.set_interval(std::chrono::seconds(41)));  // beyond 4095 cs
  EXPECT_FALSE(a.set_interval(Centiseconds(0)));
  a.version = 2;
  EXPECT_FALSE(a.set_interval(Centiseconds(150)));  // v2 carries whole seconds
  EXPECT_TRUE(a.set_interval(std::chrono::seconds(255)));
  EXPECT_EQ(a.interval_raw, 255);
  EXPECT_EQ(a.interval(), std::chrono::seconds(255));
  EXPECT_FALSE(a.set_interval(std::chrono::seconds(256)));
}

TEST(VrrpIpAddress, ParsesPrintsAndClassifies) {
  EXPECT_EQ(IpAddress::parse("198.18.0.1"), kSrc4);
  EXPECT_EQ(kSrc4.to_string(), "198.18.0.1");
  EXPECT_EQ(kDst6.to_string(), "ff02::12");
  EXPECT_TRUE(kMulticastGroupV4.is_multicast());
  EXPECT_TRUE(kDst6.is_multicast());
  EXPECT_FALSE(kSrc4.is_multicast());
  EXPECT_TRUE(kSrc6.is_link_local());
  EXPECT_FALSE(IpAddress::parse("2001:db8::1")->is_link_local());
  EXPECT_FALSE(IpAddress::parse("198.18.0"));
  EXPECT_FALSE(IpAddress::parse("not an address"));
  EXPECT_FALSE(IpAddress::parse(std::string(100, '1')));
  EXPECT_NE(IpAddress::v4(0, 0, 0, 0), *IpAddress::parse("::"));  // family is part of it
  std::ostringstream out;
  out << kSrc6;
  EXPECT_EQ(out.str(), "fe80::5c9f:66ff:feda:f5ad");
}

}  // namespace
}  // namespace tandem::vrrp
