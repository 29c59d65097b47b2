// `tandem demo-web`: the demo's tiny web server. Every request gets a 200 whose body names
// the server and the address the request came from (so the client sees which node relayed it).
#pragma once

#include <cstdint>
#include <string>

namespace tandem::app::demo {

struct WebOptions {
  std::string name = "web";
  std::string bind = "0.0.0.0";
  uint16_t port = 80;
};

// Serves until SIGTERM or SIGINT; returns the exit status (1 when it cannot listen).
int run_web(const WebOptions& options);

}  // namespace tandem::app::demo
