#include "vrrp/checksum.h"

#include <gtest/gtest.h>

#include <vector>

namespace tandem::vrrp {
namespace {

TEST(VrrpChecksum, Rfc1071Example) {
  // RFC 1071 section 3: the words sum to 0xddf2, so the checksum is its complement.
  const std::vector<uint8_t> data = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(internet_checksum(data), 0x220d);
}

TEST(VrrpChecksum, DataWithItsChecksumSumsToZero) {
  std::vector<uint8_t> data = {0x45, 0xc0, 0x00, 0x28, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70,
                               0x00, 0x00, 0xc6, 0x12, 0x00, 0x01, 0xc6, 0x12, 0x00, 0x02};
  const uint16_t sum = internet_checksum(data);
  EXPECT_EQ(sum, 0x2e7d);  // the captured v2-unicast IPv4 header
  data[10] = static_cast<uint8_t>(sum >> 8);
  data[11] = static_cast<uint8_t>(sum);
  EXPECT_EQ(internet_checksum(data), 0);
}

TEST(VrrpChecksum, OddLengthPadsWithZero) {
  EXPECT_EQ(internet_checksum(std::vector<uint8_t>{0x12, 0x34, 0x56}),
            internet_checksum(std::vector<uint8_t>{0x12, 0x34, 0x56, 0x00}));
  EXPECT_EQ(internet_checksum(std::vector<uint8_t>{}), 0xffff);
}

TEST(VrrpChecksum, ChunksMayBeOdd) {
  const std::vector<uint8_t> data = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  ChecksumAccumulator acc;
  acc.add(std::span(data).first(3));
  acc.add(std::span(data).subspan(3, 5));
  acc.add(std::span(data).subspan(8));
  EXPECT_EQ(acc.finish(), internet_checksum(data));
}

TEST(VrrpChecksum, CarriesFoldBackIn) {
  const std::vector<uint8_t> data(64, 0xff);
  EXPECT_EQ(internet_checksum(data), 0x0000);
  const std::vector<uint8_t> one = {0xff, 0xff, 0x00, 0x01};
  EXPECT_EQ(internet_checksum(one), 0xfffe);  // 0xffff + 1 = 0x1_0000 -> 0x0001
}

TEST(VrrpChecksum, Ipv4PseudoHeaderMatchesKeepalivedV3) {
  // v3-unicast-centisec: 198.18.0.1 -> 198.18.0.2, VRID 53, prio 200, 10 cs, 198.18.0.103.
  const std::vector<uint8_t> msg = {0x31, 0x35, 0xc8, 0x01, 0x00, 0x0a,
                                    0x00, 0x00, 0xc6, 0x12, 0x00, 0x67};
  EXPECT_EQ(
      ipv4_pseudo_checksum(IpAddress::v4(198, 18, 0, 1), IpAddress::v4(198, 18, 0, 2), 112, msg),
      0xb3a0);
  // The same message summed alone (RFC 9568 / v3_checksum_as_v2) gives another value.
  EXPECT_NE(internet_checksum(msg), 0xb3a0);
}

TEST(VrrpChecksum, Ipv6PseudoHeaderMatchesKeepalivedV3) {
  const std::vector<uint8_t> msg = {0x31, 0x36, 0x78, 0x01, 0x00, 0x64, 0x00, 0x00,
                                    0x20, 0x01, 0x0d, 0xb8, 0,    0,    0,    0,
                                    0,    0,    0,    0,    0,    0,    0x01, 0x00};
  EXPECT_EQ(ipv6_pseudo_checksum(*IpAddress::parse("fe80::5c9f:66ff:feda:f5ad"),
                                 *IpAddress::parse("ff02::12"), 112, msg),
            0x7165);
}

}  // namespace
}  // namespace tandem::vrrp
