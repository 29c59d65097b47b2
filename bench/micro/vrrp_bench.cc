// The per-packet cost of the VRRP core: decode and validate an advert, feed it to the
// state machine, encode the answer. At 0.02 s intervals this runs 50 times a second.
#include <benchmark/benchmark.h>

#include "vrrp/codec.h"
#include "vrrp/fsm.h"

namespace {

using namespace tandem;
using namespace tandem::vrrp;

const IpAddress kSrc = IpAddress::v4(198, 18, 0, 1);
const IpAddress kDst = IpAddress::v4(198, 18, 0, 2);

Advert sample() {
  Advert a;
  a.version = 3;
  a.vrid = 51;
  a.priority = 200;
  a.set_interval(Centiseconds(2));
  a.addresses = {IpAddress::v4(198, 18, 0, 100)};
  return a;
}

void BM_EncodeV3(benchmark::State& state) {
  const Advert a = sample();
  for (auto _ : state) {
    auto bytes = encode(a, {kSrc, kDst});
    benchmark::DoNotOptimize(bytes);
  }
}
BENCHMARK(BM_EncodeV3);

void BM_DecodeV3Ipv4Packet(benchmark::State& state) {
  const auto packet = encode_ipv4_packet(sample(), {kSrc, kDst}, 1).value();
  RxCheck check;
  check.version = 3;
  check.vrid = 51;
  for (auto _ : state) {
    auto d = decode_ipv4_packet(packet, check);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_DecodeV3Ipv4Packet);

void BM_FsmBackupReceive(benchmark::State& state) {
  FsmConfig c;
  c.version = 3;
  c.priority = 100;
  c.advert_interval = std::chrono::milliseconds(20);
  c.primary = kDst;
  Fsm fsm(c);
  core::TimePoint now(std::chrono::seconds(1));
  fsm.start(now);
  for (auto _ : state) {
    now += std::chrono::milliseconds(20);
    auto actions = fsm.receive(now, {kSrc, 200, std::chrono::milliseconds(20)});
    benchmark::DoNotOptimize(actions);
  }
}
BENCHMARK(BM_FsmBackupReceive);

}  // namespace
