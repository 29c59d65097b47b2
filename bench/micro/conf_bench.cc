// How fast the two tokenizers read a large configuration (a reload's first cost).
#include <benchmark/benchmark.h>

#include <fmt/format.h>

#include "conf/haproxy_lexer.h"
#include "conf/keepalived_lexer.h"

namespace {

using namespace tandem;

std::string big_haproxy(int backends) {
  std::string s =
      "global\n    maxconn 50000\n    log /dev/log local0\n\n"
      "defaults\n    mode http\n    timeout connect 5s\n    timeout client 50s\n"
      "    timeout server 50s\n    option httplog\n\nfrontend fe\n    bind *:80\n";
  for (int b = 0; b < backends; ++b)
    s += fmt::format("    use_backend be{0} if {{ hdr(host) -i app{0}.example.com }}\n", b);
  for (int b = 0; b < backends; ++b) {
    s += fmt::format("\nbackend be{}\n    balance roundrobin\n    option httpchk GET /health\n", b);
    for (int srv = 0; srv < 5; ++srv)
      s += fmt::format("    server s{} 198.18.{}.{}:8080 check inter 2s rise 2 fall 3 # web\n", srv,
                       b % 250, srv + 1);
  }
  return s;
}

std::string big_keepalived(int instances) {
  std::string s = "global_defs {\n    router_id lb1\n    enable_script_security\n}\n";
  s += "vrrp_script chk {\n    script \"/usr/bin/killall -0 haproxy\"\n    interval 2\n}\n";
  for (int i = 0; i < instances; ++i)
    s += fmt::format(
        "vrrp_instance VI_{0} {{\n    interface eth0\n    state BACKUP\n"
        "    virtual_router_id {1}\n    priority 100\n    advert_int 1\n"
        "    unicast_src_ip 198.18.0.1\n    unicast_peer {{\n        198.18.0.2\n    }}\n"
        "    virtual_ipaddress {{\n        198.18.1.{1}/24 dev eth0\n    }}\n"
        "    track_script {{\n        chk\n    }}\n}}\n",
        i, i % 255 + 1);
  return s;
}

void BM_LexHaproxy(benchmark::State& state) {
  const std::string text = big_haproxy(static_cast<int>(state.range(0)));
  auto file = std::make_shared<const std::string>("haproxy.cfg");
  for (auto _ : state) {
    core::Diagnostics diags;
    auto lines = conf::lex_haproxy(text, file, diags);
    benchmark::DoNotOptimize(lines);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_LexHaproxy)->Arg(10)->Arg(1000);

void BM_ParseKeepalived(benchmark::State& state) {
  const std::string text = big_keepalived(static_cast<int>(state.range(0)));
  auto file = std::make_shared<const std::string>("keepalived.conf");
  conf::IncludeOptions opts;
  opts.follow = false;
  for (auto _ : state) {
    core::Diagnostics diags;
    auto nodes = conf::parse_keepalived(text, file, diags, opts);
    benchmark::DoNotOptimize(nodes);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_ParseKeepalived)->Arg(10)->Arg(1000);

}  // namespace
