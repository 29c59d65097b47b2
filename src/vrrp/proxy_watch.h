// track_proxy at run time: is the local proxy alive? Its process is followed through a
// pidfd (a death is seen at once; a restarted proxy is found again through its pid file),
// and its listeners are probed with a TCP connect every `interval`.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "core/clock.h"
#include "core/result.h"
#include "vrrp/config.h"
#include "vrrp/os/file_watch.h"

namespace asio {
class io_context;
}

namespace tandem::vrrp {

class ProxyWatch {
 public:
  // `changed(up, why)` runs on the loop when the verdict changes.
  ProxyWatch(asio::io_context& io, core::Clock& clock, TrackProxy spec, os::FileWatch& files,
             std::function<void(bool up, const std::string& why)> changed);
  ~ProxyWatch();

  core::Result<void> start();
  // With `process NAME`, the daemon's process watch says how many run.
  void set_process_count(size_t count);
  // Down until proven up: the first probe (or the pid check) decides.
  bool up() const;
  // Every watched part (process, listeners, stats socket) has had its first answer: up() is
  // a verdict, not the initial guess. Within `timeout` of start().
  bool settled() const;
  const TrackProxy& spec() const;
  nlohmann::json status() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;  // shared with in-flight probes, which may outlive a stop
};

}  // namespace tandem::vrrp
