// Watches files for track_file with inotify: each change of a watched file (written and
// closed, replaced by a rename, created or removed) calls back on the loop. No polling.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "core/result.h"

namespace asio {
class io_context;
}

namespace tandem::vrrp::os {

class FileWatch {
 public:
  virtual ~FileWatch() = default;
  // Watches `path` (through its folder, so a file replaced by rename is seen too).
  virtual core::Result<void> watch(const std::string& path, std::function<void()> changed) = 0;
};
using FileWatchPtr = std::unique_ptr<FileWatch>;

core::Result<FileWatchPtr> open_file_watch(asio::io_context& io);

// keepalived's reading of a track file: the leading integer, 0 when the file is missing,
// empty or does not start with a number.
int64_t read_track_file(const std::string& path);

}  // namespace tandem::vrrp::os
