#include "vrrp/os/file_watch.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>

#include "core/log.h"

namespace tandem::vrrp::os {

namespace {

class InotifyWatch final : public FileWatch {
 public:
  InotifyWatch(asio::io_context& io, int fd) : stream_(io, fd) { wait(); }
  ~InotifyWatch() override {
    std::error_code ignored;
    stream_.close(ignored);
  }

  core::Result<void> watch(const std::string& path, std::function<void()> changed) override {
    std::filesystem::path p(path);
    const std::string dir = p.has_parent_path() ? p.parent_path().string() : ".";
    const int wd = inotify_add_watch(
        stream_.native_handle(), dir.c_str(),
        IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_ATTRIB);
    if (wd < 0) return core::fail_errno("cannot watch " + dir + " for " + path, errno);
    watchers_[{wd, p.filename().string()}].push_back(std::move(changed));
    return {};
  }

 private:
  void wait() {
    stream_.async_wait(asio::posix::stream_descriptor::wait_read,
                       [this](const std::error_code& ec) {
                         if (ec) return;
                         drain();
                         wait();
                       });
  }

  void drain() {
    alignas(inotify_event) std::array<char, 8192> buf;
    for (;;) {
      ssize_t n = ::read(stream_.native_handle(), buf.data(), buf.size());
      if (n <= 0) return;  // EAGAIN: all read
      for (ssize_t off = 0; off < n;) {
        auto* ev = reinterpret_cast<const inotify_event*>(buf.data() + off);
        off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
        if (ev->len == 0) continue;
        auto it = watchers_.find({ev->wd, std::string(ev->name)});
        if (it == watchers_.end()) continue;
        for (auto& cb : it->second) cb();
      }
    }
  }

  asio::posix::stream_descriptor stream_;
  std::map<std::pair<int, std::string>, std::vector<std::function<void()>>> watchers_;
};

}  // namespace

core::Result<FileWatchPtr> open_file_watch(asio::io_context& io) {
  const int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return core::fail_errno("inotify_init1", errno);
  return std::make_unique<InotifyWatch>(io, fd);
}

int64_t read_track_file(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  if (!in || !std::getline(in, text)) return 0;
  const char* begin = text.c_str();
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(begin, &end, 10);
  if (end == begin || errno == ERANGE) return 0;
  return v;
}

}  // namespace tandem::vrrp::os
