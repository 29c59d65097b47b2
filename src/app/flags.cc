#include "app/flags.h"

#include <charconv>
#include <string_view>

#include <fmt/format.h>

namespace tandem::app {

using core::fail;
using core::Result;

namespace {

bool parse_pid(std::string_view s, int* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && *out > 0;
}

}  // namespace

std::string lb_usage() {
  return "Usage: tandem-lb [-f <cfgfile|cfgdir>]* [-c] [-d|-db|-D] [-W|-Ws] [-p <pidfile>]\n"
         "                 [-q] [-L <name>] [-cc <cond>] [-sf|-st <pid>*] [-v|-vv]\n"
         "  -f PATH   configuration file, or folder whose *.cfg files are read (repeatable)\n"
         "  -c        check the configuration, print every diagnostic, and exit\n"
         "  -d        foreground with debug output       -db  foreground\n"
         "  -D        run in the background (daemon)     -p   write the pid to this file\n"
         "  -W, -Ws   master-worker mode (-Ws: systemd notify)\n"
         "  -sf/-st   PIDs of old processes to stop softly / at once after start\n"
         "  -cc COND  evaluate a condition (.if syntax); exit 0 if true, 1 if false\n"
         "  -L NAME   local peer name (accepted)         -q   quiet\n"
         "  -v, -vv   version, and build details\n";
}

Result<LbFlags> parse_lb_flags(const std::vector<std::string>& args) {
  LbFlags f;
  auto need_value = [&](size_t& i, std::string_view flag) -> Result<std::string> {
    if (i + 1 >= args.size() || args[i + 1].empty())
      return fail(fmt::format("option '{}' needs an argument", flag));
    return args[++i];
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-f") {
      auto v = need_value(i, a);
      if (!v) return tl::unexpected(v.error());
      f.config_paths.push_back(*v);
    } else if (a.starts_with("-f") && a.size() > 2 && a != "-fs") {
      f.config_paths.push_back(a.substr(2));
    } else if (a == "-c") {
      f.check_only = true;
    } else if (a == "-D") {
      f.daemon = true;
    } else if (a == "-d") {
      f.foreground = f.debug = true;
    } else if (a == "-db") {
      f.foreground = true;
    } else if (a == "-W") {
      f.master_worker = true;
    } else if (a == "-Ws") {
      f.master_worker = f.systemd_notify = true;
    } else if (a == "-q") {
      f.quiet = true;
    } else if (a == "-p") {
      auto v = need_value(i, a);
      if (!v) return tl::unexpected(v.error());
      f.pid_file = *v;
    } else if (a == "-L") {
      auto v = need_value(i, a);
      if (!v) return tl::unexpected(v.error());
      f.local_name = *v;
    } else if (a == "-cc") {
      auto v = need_value(i, a);
      if (!v) return tl::unexpected(v.error());
      f.condition = *v;
    } else if (a == "-sf" || a == "-st") {
      auto& pids = a == "-sf" ? f.soft_stop_pids : f.hard_stop_pids;
      // Like haproxy: every following word that is a number is a PID.
      int pid = 0;
      while (i + 1 < args.size() && parse_pid(args[i + 1], &pid)) {
        pids.push_back(pid);
        ++i;
      }
    } else if (a == "-v" || a == "-V") {
      f.version_level = std::max(f.version_level, 1);
    } else if (a == "-vv") {
      f.version_level = 2;
    } else if (a == "-h" || a == "--help") {
      f.help = true;
    } else if (!a.starts_with("-")) {
      // haproxy takes trailing words as more configuration files.
      f.config_paths.push_back(a);
    } else {
      return fail(fmt::format("unknown option '{}' (see tandem-lb -h)", a));
    }
  }
  return f;
}

std::string vrrp_usage() {
  return "Usage: tandem-vrrp [OPTION...]\n"
         "  -f, --use-file=FILE     configuration file (default /etc/keepalived/keepalived.conf)\n"
         "  -n, --dont-fork         stay in the foreground\n"
         "  -l, --log-console       log to the console (stderr)\n"
         "  -D, --log-detail        detailed log messages\n"
         "  -g, --log-file=FILE     log to this file\n"
         "  -p, --pid=FILE          pid file\n"
         "  -t, --config-test       check the configuration, print every diagnostic, and exit\n"
         "      --control-socket=PATH  tandem's control socket (default /run/tandem-vrrp.sock)\n"
         "  -v, --version           print the version\n"
         "  -h, --help              this help\n";
}

Result<VrrpFlags> parse_vrrp_flags(const std::vector<std::string>& args) {
  VrrpFlags f;
  // Long-only options get codes no one can type as a short option.
  constexpr char kControlSocket = '\x01';
  struct Opt {
    char short_name;
    std::string_view long_name;
    bool takes_value;
  };
  static constexpr Opt kOpts[] = {
      {'f', "use-file", true},     {'n', "dont-fork", false},
      {'l', "log-console", false}, {'D', "log-detail", false},
      {'g', "log-file", true},     {'p', "pid", true},
      {'t', "config-test", false}, {'v', "version", false},
      {'h', "help", false},        {kControlSocket, "control-socket", true},
  };
  auto apply = [&](const Opt& o, const std::string& value) {
    switch (o.short_name) {
      case 'f':
        f.config_path = value;
        break;
      case 'n':
        f.dont_fork = true;
        break;
      case 'l':
        f.log_console = true;
        break;
      case 'D':
        f.log_detail = true;
        break;
      case 'g':
        f.log_file = value;
        break;
      case 'p':
        f.pid_file = value;
        break;
      case 't':
        f.config_test = true;
        break;
      case 'v':
        f.version = true;
        break;
      case 'h':
        f.help = true;
        break;
      case kControlSocket:
        f.control_socket = value;
        break;
    }
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.starts_with("--")) {
      std::string name = a.substr(2), value;
      bool has_value = false;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name.resize(eq);
        has_value = true;
      }
      const Opt* o = nullptr;
      for (const auto& c : kOpts)
        if (c.long_name == name) o = &c;
      if (!o) return fail(fmt::format("unknown option '--{}' (see tandem-vrrp --help)", name));
      if (o->takes_value && !has_value) {
        if (i + 1 >= args.size()) return fail(fmt::format("option '--{}' needs an argument", name));
        value = args[++i];
      } else if (!o->takes_value && has_value) {
        return fail(fmt::format("option '--{}' takes no argument", name));
      }
      apply(*o, value);
    } else if (a.starts_with("-") && a.size() > 1) {
      // Bundled short options as getopt allows: -nlD, -fFILE, -f FILE.
      for (size_t k = 1; k < a.size(); ++k) {
        const Opt* o = nullptr;
        for (const auto& c : kOpts)
          if (c.short_name == a[k]) o = &c;
        if (!o) return fail(fmt::format("unknown option '-{}' (see tandem-vrrp --help)", a[k]));
        if (o->takes_value) {
          std::string value = a.substr(k + 1);
          if (value.empty()) {
            if (i + 1 >= args.size())
              return fail(fmt::format("option '-{}' needs an argument", a[k]));
            value = args[++i];
          }
          apply(*o, value);
          break;
        }
        apply(*o, {});
      }
    } else {
      return fail(fmt::format("unexpected argument '{}' (see tandem-vrrp --help)", a));
    }
  }
  return f;
}

}  // namespace tandem::app
