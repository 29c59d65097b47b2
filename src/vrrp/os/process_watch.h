// Counts running processes that match a pattern, for vrrp_track_process: a scan of /proc
// at start, then the kernel's process events (proc connector: exec, exit, comm change).
// The connector answers only in the initial network namespace and to root; elsewhere each
// matched process is watched through a pidfd (its exit is seen at once) and /proc is scanned
// every `rescan` for new ones.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/result.h"

namespace asio {
class io_context;
}

namespace tandem::vrrp::os {

struct ProcessPattern {
  std::string name;                 // comm (first 15 bytes) or argv[0]'s base name or path
  std::vector<std::string> params;  // arguments to match after argv[0]
  enum class Match : uint8_t { kAny, kExact, kInitial, kPartial } match = Match::kAny;
  bool full_command = false;  // name is compared with argv[0] as written, not the comm
};

// True when a process with this comm and command line (argv) matches.
bool matches(const ProcessPattern& p, const std::string& comm,
             const std::vector<std::string>& argv);

class ProcessWatch {
 public:
  virtual ~ProcessWatch() = default;
  // Starts counting; `changed(count)` runs on the loop whenever the count changes.
  // Returns the count at the time of the call.
  virtual core::Result<size_t> watch(ProcessPattern pattern,
                                     std::function<void(size_t)> changed) = 0;
};
using ProcessWatchPtr = std::unique_ptr<ProcessWatch>;

core::Result<ProcessWatchPtr> open_process_watch(asio::io_context& io, core::Clock& clock,
                                                 core::Duration rescan = std::chrono::seconds(1));

}  // namespace tandem::vrrp::os
