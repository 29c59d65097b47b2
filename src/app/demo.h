// `tandem demo`: the classic pair built on this machine in network namespaces, broken four
// ways while a client measures each outage. Without root: tandem-lb on loopback.
#pragma once

#include <array>
#include <string>

namespace tandem::app {

struct DemoOptions {
  bool keep = false;        // --keep: leave the lab up to explore
  bool clean = false;       // --clean: remove kept labs and leftovers, then stop
  bool check = false;       // --check: exit 1 when an outage is over its bound
  bool local = false;       // --local: the loopback demo even as root
  std::string json_path;    // --json FILE: the measurements
  double advert_int = 0.2;  // --advert-int S: VRRP advert interval of the pair
  // --bound N=S: fault N's longest allowed outage in seconds; < 0: the default
  // (1: 0.5, 2: 0.5, 3: 3 x Master_Down_Interval + 0.3, 4: no failed request).
  std::array<double, 5> bounds{-1, -1, -1, -1, -1};
  std::string examples_dir;  // --examples DIR: only read a folder of example files
};

int run_demo(const DemoOptions& options);

// `tandem demo-web`: the demo's web server (a hidden subcommand the demo starts).
int run_demo_web(int argc, char** argv);

}  // namespace tandem::app
