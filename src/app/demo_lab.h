// The demo's lab: network namespaces, links and processes of one run, made with the `ip`
// command and removed on every way out (the destructor), plus the sweep of dead runs.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace tandem::app::demo {

// A step of the demo that cannot go on; the message says what and why.
struct DemoError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// SIGINT, SIGTERM or SIGHUP arrived: stop, clean up, exit 130.
struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted") {}
};

// Installs the handlers that turn those signals into a flag; check_interrupted() throws.
void install_signal_flag();
bool interrupted();
void check_interrupted();
// Sleeps, in steps, throwing Interrupted as soon as a signal arrives.
void pause_ms(double ms);

// The full path of a program found in PATH (or in /usr/sbin, /sbin); empty if none.
std::string find_program(const std::string& name);

// Runs argv to its end; returns the exit status (-1 if it did not run) and its output.
int run_command(const std::vector<std::string>& argv, std::string* output = nullptr);

// The namespace names of the demo: "td-<pid>-<node>".
inline constexpr const char* kNamePrefix = "td-";

class Lab {
 public:
  explicit Lab(std::filesystem::path dir);
  ~Lab();
  Lab(const Lab&) = delete;
  Lab& operator=(const Lab&) = delete;

  const std::string& prefix() const { return prefix_; }
  const std::filesystem::path& dir() const { return dir_; }
  std::string ns(const std::string& node) const { return prefix_ + node; }

  // `ip ARGS...`; throws DemoError with ip's message when it fails.
  void ip(const std::vector<std::string>& args);
  // A namespace (with lo up), remembered for the clean-up.
  void add_netns(const std::string& node);
  // The bridge namespace with br0, then a node joined to it: eth0 inside the node (born
  // there), its peer a port of br0, the address ADDR/PLEN on eth0.
  void add_bridge();
  void add_node(const std::string& node, const std::string& cidr);
  // sysctl inside a node's namespace.
  void sysctl(const std::string& node, const std::string& setting);

  // Starts argv inside node's namespace (node empty: here) in a session of its own, output
  // appended to log. Returns its pid (ip netns exec execs the program: the pid is its own).
  pid_t spawn(const std::string& node, const std::vector<std::string>& argv,
              const std::filesystem::path& log);
  // Whether a spawned process still runs (reaps it when it has ended).
  bool alive(pid_t pid);
  // Signals a spawned process and its group; ignored for ones already reaped.
  void signal(pid_t pid, int sig);
  // Waits up to timeout_ms for it to end; true when it did.
  bool wait_exit(pid_t pid, double timeout_ms);

  // Leave everything running for the operator (--keep): the destructor then does nothing.
  void keep();
  bool kept() const { return kept_; }
  // Kill every spawned process, everything left in the namespaces, delete the namespaces.
  // Returns the namespaces that could not be deleted (empty when all is clean).
  std::vector<std::string> cleanup();

 private:
  struct Child {
    pid_t pid;
    bool reaped;
  };
  std::string prefix_;
  std::filesystem::path dir_;
  std::string ip_path_;
  std::vector<std::string> namespaces_;
  std::vector<Child> children_;
  bool kept_ = false;
  bool cleaned_ = false;
};

// Namespaces and run folders of demo runs whose process is gone (all of them, kept ones too,
// with `all`): processes inside are killed, the namespaces deleted. Returns what it removed,
// one line each.
std::vector<std::string> sweep(bool all);

// The run folder of this process: $TMPDIR/tandem-demo-<pid>.
std::filesystem::path run_dir();

}  // namespace tandem::app::demo
