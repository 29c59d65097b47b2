// Runs scripts (checks, notify) as child processes without blocking the loop: each in its
// own process group, as a chosen user, with a time-out that kills the whole group.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/result.h"

namespace tandem::core {

struct ProcessSpec {
  std::vector<std::string> argv;     // argv[0] is the program (an absolute path, or found in PATH)
  std::vector<std::string> env;      // KEY=VALUE, added to a minimal environment (PATH, HOME?)
  std::optional<std::string> user;   // run as this user (name or number); default: ours
  std::optional<std::string> group;  // and group; default: the user's primary group
  Duration timeout = std::chrono::seconds(30);
  std::string name;  // for log lines, e.g. "notify_master of VI_1"
};

struct ProcessResult {
  enum class Outcome {
    kExited,       // exit_code is valid
    kSignaled,     // term_signal is valid
    kTimedOut,     // killed by us after spec.timeout
    kSpawnFailed,  // never ran: error says why (missing, not executable, unknown user, ...)
  };
  Outcome outcome = Outcome::kSpawnFailed;
  int exit_code = -1;
  int term_signal = 0;
  Duration run_time{};
  std::string error;
  std::string output;  // stdout and stderr interleaved, up to Options::max_output_bytes

  bool success() const { return outcome == Outcome::kExited && exit_code == 0; }
  std::string describe() const;  // "exited 0", "killed by signal 9", "timed out after 2.0s", ...
};

using ProcessCallback = std::function<void(const ProcessResult&)>;

// Checks that a script can be run: exists, is a regular file, executable. With `secure`,
// also that neither it nor any folder above it can be changed by anyone but root (or
// `run_as_uid` when that user owns it), as keepalived's enable_script_security does.
Result<void> check_script(const std::string& path, bool secure, uint32_t run_as_uid = 0);

class ProcessRunner {
 public:
  struct Options {
    size_t max_concurrent = 16;       // more wait in a queue, in order
    size_t max_output_bytes = 16384;  // captured per run; the rest is counted and dropped
    bool log_output = true;           // each output line logged at info with the spec's name
  };

  ProcessRunner(asio::io_context& io, Clock& clock, Options options);
  ProcessRunner(asio::io_context& io, Clock& clock);
  ~ProcessRunner();  // kills the groups of every child still running

  // Starts (or queues) a run; the callback runs on the loop exactly once. Returns an id.
  uint64_t run(ProcessSpec spec, ProcessCallback callback);
  // Kills a running child's group (or drops a queued one); its callback still runs.
  void kill(uint64_t id);

  size_t running() const;
  size_t queued() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::core
