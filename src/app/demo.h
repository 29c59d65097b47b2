// `tandem demo`: shows what tandem does, running only what exists in this build.
#pragma once

#include <string>

namespace tandem::app {

struct DemoOptions {
  std::string examples_dir;  // empty: the source tree's examples/
};

int run_demo(const DemoOptions& options);

}  // namespace tandem::app
