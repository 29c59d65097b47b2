// ControlServer on a real loop in a Worker thread, spoken to with control_request() and with a
// raw socket for the interactive cases.
#include "core/control_socket.h"

#include <gtest/gtest.h>

#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/worker.h"

namespace tandem::core {
namespace {

using namespace std::chrono_literals;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/tandem-ctl-XXXXXX";
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A plain blocking client with bounded reads, for conversations control_request cannot have.
class Client {
 public:
  explicit Client(const std::string& path) {
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path.copy(addr.sun_path, sizeof addr.sun_path - 1);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~Client() { close(fd_); }
  bool connected() const { return connected_; }
  void send(std::string_view s) { ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL); }
  void shutdown_write() { ::shutdown(fd_, SHUT_WR); }

  // Reads until what arrived ends with `suffix`, the server closes, or `limit` passes.
  std::string read_until(std::string_view suffix, Duration limit = 3s) {
    std::string got;
    auto until = std::chrono::steady_clock::now() + limit;
    while (!eof_ && !(got.size() >= suffix.size() && got.ends_with(suffix))) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        eof_ = true;
        break;
      }
      got.append(buf, static_cast<size_t>(n));
    }
    return got;
  }
  // True when the server closes within `limit` (any data before that is returned in *rest).
  bool closed_by_server(Duration limit = 3s, std::string* rest = nullptr) {
    std::string got = read_until("\x01never\x02", limit);
    if (rest) *rest = got;
    return eof_;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
};

ControlReply echo(std::string_view line) {
  if (line == "bye") return {"goodbye\n", true};
  return {"you said: " + std::string(line) + "\n"};
}

// A server on a Worker thread; stops the loop before the server goes away, so the server is
// never touched from two threads at once.
struct Served {
  explicit Served(ControlSocketOptions options, ControlHandler handler = echo)
      : server(w.io(), std::move(options), std::move(handler)) {}
  Result<void> start() {
    auto r = server.start();
    if (r) w.start_thread();
    return r;
  }
  void finish() {
    w.stop();
    w.join();
  }
  ~Served() { finish(); }

  Worker w{"ctl"};
  ControlServer server;
};

TEST(ControlServer, OneRequestGetsItsReplyAndTheConnectionCloses) {
  TempDir dir;
  Served s({.path = dir / "ctl.sock"});
  ASSERT_TRUE(s.start());
  auto r = control_request(dir / "ctl.sock", "hello");
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(*r, "you said: hello\n");
  // A trailing \r (a telnet-ish client) is not part of the command.
  EXPECT_EQ(control_request(dir / "ctl.sock", "hi\r").value_or("?"), "you said: hi\n");
  // Only the first line counts in one-shot mode; the rest is swallowed, not reset.
  EXPECT_EQ(control_request(dir / "ctl.sock", "one\ntwo").value_or("?"), "you said: one\n");

  // A last line without newline, then a half-close, is a command too.
  Client c(dir / "ctl.sock");
  ASSERT_TRUE(c.connected());
  c.send("tail");
  c.shutdown_write();
  std::string rest;
  EXPECT_TRUE(c.closed_by_server(3s, &rest));
  EXPECT_EQ(rest, "you said: tail\n");
  s.finish();
  EXPECT_EQ(s.server.stats().commands, 4u);
}

TEST(ControlServer, PromptModeKeepsTheConnectionForSeveralCommands) {
  TempDir dir;
  Served s({.path = dir / "ctl.sock"});
  ASSERT_TRUE(s.start());
  Client c(dir / "ctl.sock");
  ASSERT_TRUE(c.connected());
  c.send("prompt\n");
  EXPECT_EQ(c.read_until("\n> "), "\n> ");
  c.send("first\n");
  EXPECT_EQ(c.read_until("\n> "), "you said: first\n\n> ");
  c.send("\n");  // an empty line just prompts again
  EXPECT_EQ(c.read_until("\n> "), "\n> ");
  c.send("second\r\n");
  EXPECT_EQ(c.read_until("\n> "), "you said: second\n\n> ");
  c.send("quit\n");
  std::string rest;
  EXPECT_TRUE(c.closed_by_server(3s, &rest));
  EXPECT_EQ(rest, "");

  // The same through the one-shot client: the half-close ends the session.
  auto r = control_request(dir / "ctl.sock", "prompt\na\nb");
  EXPECT_EQ(r.value_or("?"), "\n> you said: a\n\n> you said: b\n\n> ");
}

TEST(ControlServer, HandlerCanCloseAPromptSession) {
  TempDir dir;
  Served s({.path = dir / "ctl.sock"});
  ASSERT_TRUE(s.start());
  Client c(dir / "ctl.sock");
  c.send("prompt\n");
  EXPECT_EQ(c.read_until("\n> "), "\n> ");
  c.send("bye\n");
  std::string rest;
  EXPECT_TRUE(c.closed_by_server(3s, &rest));
  EXPECT_EQ(rest, "goodbye\n");
}

TEST(ControlServer, TooLongALineGetsAnErrorAndCloses) {
  TempDir dir;
  Served s({.path = dir / "ctl.sock", .max_line = 100});
  ASSERT_TRUE(s.start());
  EXPECT_EQ(control_request(dir / "ctl.sock", std::string(100, 'x')).value_or("?"),
            "you said: " + std::string(100, 'x') + "\n");
  EXPECT_EQ(control_request(dir / "ctl.sock", std::string(101, 'x')).value_or("?"),
            "error: command line too long\n");
  // Far too long, and never a newline: refused without waiting for the end.
  Client c(dir / "ctl.sock");
  c.send(std::string(20000, 'y'));
  std::string rest;
  EXPECT_TRUE(c.closed_by_server(3s, &rest));
  EXPECT_EQ(rest, "error: command line too long\n");
  s.finish();
  EXPECT_EQ(s.server.stats().too_long, 2u);
}

TEST(ControlServer, RefusesClientsBeyondTheLimit) {
  TempDir dir;
  Served s({.path = dir / "ctl.sock", .max_clients = 2});
  ASSERT_TRUE(s.start());
  Client a(dir / "ctl.sock"), b(dir / "ctl.sock");
  a.send("prompt\n");
  b.send("prompt\n");
  ASSERT_EQ(a.read_until("\n> "), "\n> ");
  ASSERT_EQ(b.read_until("\n> "), "\n> ");
  Client extra(dir / "ctl.sock");
  ASSERT_TRUE(extra.connected());  // the kernel accepts; the server closes at once
  extra.send("hello\n");
  std::string rest;
  EXPECT_TRUE(extra.closed_by_server(3s, &rest));
  EXPECT_EQ(rest, "");
  // "quit" closes on the server side first, so the slot is free once we see EOF.
  a.send("quit\n");
  EXPECT_TRUE(a.closed_by_server());
  EXPECT_EQ(control_request(dir / "ctl.sock", "again").value_or("?"), "you said: again\n");
  s.finish();
  EXPECT_EQ(s.server.stats().refused, 1u);
  EXPECT_EQ(s.server.stats().accepted, 3u);
}

TEST(ControlServer, ClosesIdleConnections) {
  TempDir dir;
  Served s({.path = dir / "ctl.sock", .idle_timeout = 100ms});
  ASSERT_TRUE(s.start());
  Client c(dir / "ctl.sock");
  EXPECT_TRUE(c.closed_by_server(3s));
  s.finish();
  EXPECT_EQ(s.server.stats().idle_closed, 1u);
}

TEST(ControlServer, ReplacesAStaleSocketFile) {
  TempDir dir;
  const std::string path = dir / "ctl.sock";
  {
    // A socket file left behind: bound, then its process went away.
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path.copy(addr.sun_path, sizeof addr.sun_path - 1);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    listen(fd, 1);
    close(fd);
  }
  ASSERT_TRUE(std::filesystem::is_socket(path));
  Served s({.path = path});
  auto r = s.start();
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(control_request(path, "x").value_or("?"), "you said: x\n");
}

TEST(ControlServer, DoesNotStealALiveSocket) {
  TempDir dir;
  const std::string path = dir / "ctl.sock";
  Served first({.path = path});
  ASSERT_TRUE(first.start());
  Served second({.path = path}, [](std::string_view) { return ControlReply{"second\n"}; });
  auto r = second.start();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().to_string(), "another process is already listening on " + path);
  second.finish();
  EXPECT_EQ(control_request(path, "still").value_or("?"), "you said: still\n");
}

TEST(ControlServer, RefusesToReplaceAFileThatIsNoSocket) {
  TempDir dir;
  const std::string path = dir / "ctl.sock";
  std::ofstream(path) << "precious";
  Served s({.path = path});
  auto r = s.start();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().to_string(), path + " exists and is not a socket; not replacing it");
  std::ifstream in(path);
  std::string content;
  in >> content;
  EXPECT_EQ(content, "precious");
}

TEST(ControlServer, AppliesModeAndRemovesTheFileOnStop) {
  TempDir dir;
  const std::string path = dir / "ctl.sock";
  Served s({.path = path, .mode = 0660});
  ASSERT_TRUE(s.start());
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  EXPECT_FALSE(std::filesystem::exists(path + "." + std::to_string(getpid()) + ".tmp"));
  s.finish();
  s.server.stop();
  EXPECT_FALSE(std::filesystem::exists(path));
  s.server.stop();  // again: nothing happens

  auto r = control_request(path, "x", 1s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().to_string(),
            "is the daemon running? cannot connect to " + path + ": No such file or directory");
}

TEST(ControlServer, DestructorRemovesTheFile) {
  TempDir dir;
  const std::string path = dir / "ctl.sock";
  {
    Served s({.path = path});
    ASSERT_TRUE(s.start());
    ASSERT_TRUE(std::filesystem::exists(path));
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(ControlServer, SetsTheOwner) {
  if (geteuid() != 0) GTEST_SKIP() << "changing a file's owner needs root";
  struct passwd* pw = getpwnam("nobody");
  if (!pw) GTEST_SKIP() << "no user 'nobody' on this system";
  TempDir dir;
  const std::string path = dir / "ctl.sock";
  Served s({.path = path, .owner = "nobody", .group = std::to_string(pw->pw_gid)});
  auto r = s.start();
  ASSERT_TRUE(r) << r.error().to_string();
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, pw->pw_uid);
  EXPECT_EQ(st.st_gid, pw->pw_gid);
}

TEST(ControlServer, UnknownOwnerFailsAndLeavesNothingBehind) {
  TempDir dir;
  const std::string path = dir / "ctl.sock";
  Served s({.path = path, .owner = "tandem-no-such-user"});
  auto r = s.start();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().to_string(),
            "control socket " + path + ": unknown user 'tandem-no-such-user'");
  EXPECT_TRUE(std::filesystem::is_empty(std::filesystem::path(path).parent_path()));
}

TEST(ControlRequest, TimesOutOnASilentServer) {
  TempDir dir;
  const std::string path = dir / "silent.sock";
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  path.copy(addr.sun_path, sizeof addr.sun_path - 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  listen(fd, 1);  // connects, never answers
  auto start = std::chrono::steady_clock::now();
  auto r = control_request(path, "x", 200ms);
  auto took = std::chrono::steady_clock::now() - start;
  close(fd);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().to_string(),
            "no complete reply from " + path + " within 200 ms: Connection timed out");
  EXPECT_GE(took, 200ms);
  EXPECT_LT(took, 2s);
}

}  // namespace
}  // namespace tandem::core
