#include "conf/source_text.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <cerrno>

namespace tandem::conf {

core::Result<std::string> read_text_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return core::fail_errno(fmt::format("cannot open '{}'", path), errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return core::fail_errno(fmt::format("cannot stat '{}'", path), err);
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    return core::fail(fmt::format("'{}' is a directory, not a file", path));
  }
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return core::fail_errno(fmt::format("cannot read '{}'", path), err);
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > kMaxFileBytes) {
      ::close(fd);
      return core::fail(fmt::format("'{}' is larger than {} bytes", path, kMaxFileBytes));
    }
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

void for_each_line(std::string_view text, const std::shared_ptr<const std::string>& file,
                   core::Diagnostics& diags, const std::function<void(const PhysicalLine&)>& each) {
  uint32_t number = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    ++number;
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // CRLF files
    if (line.size() > kMaxLineBytes) {
      diags.error(location(file, number, kMaxLineBytes),
                  fmt::format("line is longer than {} bytes", kMaxLineBytes),
                  "split the statement, or move long values into a file it can refer to");
      continue;
    }
    size_t bad = std::string_view::npos;
    for (size_t i = 0; i < line.size(); ++i) {
      auto c = static_cast<unsigned char>(line[i]);
      if ((c < 0x20 && c != '\t') || c == 0x7f) {
        bad = i;
        break;
      }
    }
    if (bad != std::string_view::npos) {
      auto c = static_cast<unsigned char>(line[bad]);
      diags.error(location(file, number, bad),
                  c == 0 ? std::string("NUL byte in configuration text")
                         : fmt::format("control character 0x{:02x} in configuration text", c),
                  "is this a text file? write control characters as escapes inside quotes");
      continue;
    }
    each(PhysicalLine{line, number});
  }
}

}  // namespace tandem::conf
