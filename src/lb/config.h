// tandem-lb's configuration: the supported subset of haproxy.cfg, typed and validated, with
// defaults sections already applied.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "conf/haproxy_lexer.h"
#include "conf/word.h"
#include "core/diagnostic.h"
#include "core/result.h"
#include "lb/cond_blocks.h"  // eval_condition, kHaproxyCompatVersion

namespace tandem::lb {

using Duration = std::chrono::milliseconds;  // haproxy's timers count milliseconds

enum class Mode : uint8_t { kTcp, kHttp };
std::string_view to_string(Mode m);

// Where to listen or connect: "1.2.3.4:80", "[::1]:80", ":::80", "*:80", ":80", "host:80",
// "unix@/path", "/path", "abns@name", "fd@3", with optional ipv4@/ipv6@ prefixes.
struct Address {
  enum class Kind : uint8_t { kIpv4, kIpv6, kName, kUnix, kAbns, kFd };
  Kind kind = Kind::kIpv4;
  std::string host;  // IP literal ("0.0.0.0" or "::" for a wildcard), host name, path or name
  uint16_t port_first = 0;  // 0 with unix, abns and fd
  uint16_t port_last = 0;   // == port_first unless a range "8000-8009" was written
  int fd = -1;              // kFd only
  bool wildcard = false;    // "*", empty host, "::" or "0.0.0.0"

  std::string to_string() const;
};

// A bind line: one address (a comma list or a port range gives several Bind lines).
struct Bind {
  Address address;
  std::string name;                 // `name` option: shown in logs and stats
  std::optional<bool> v6only;       // v6only / v4v6; unset: the system's default
  std::optional<uint32_t> backlog;  // listen(2) backlog; unset: the frontend's maxconn
  std::optional<uint32_t> maxconn;  // per-listener limit; unset: the frontend's
  // unix@ sockets: permissions and owner of the socket file (mode, user/uid, group/gid).
  std::optional<uint32_t> mode;
  std::optional<uint32_t> uid;
  std::optional<uint32_t> gid;
  core::SourceLocation where;
};

// "if COND" / "unless COND" after a rule: the words as written, for the ACL engine.
struct Condition {
  enum class Polarity : uint8_t { kIf, kUnless };
  Polarity polarity = Polarity::kIf;
  std::vector<conf::Word> words;  // after if/unless: ACL names, !, ||, or, {...} anonymous ACLs
  core::SourceLocation where;     // the if/unless word
};

// acl NAME CRITERION [FLAGS] [VALUES...]: stored as written; the ACL engine validates it.
struct Acl {
  std::string name;
  std::vector<conf::Word> words;  // from the criterion on
  core::SourceLocation where;
};

struct BackendRule {  // use_backend NAME [if|unless COND]
  std::string backend;
  std::optional<Condition> condition;
  core::SourceLocation where;
};

// One "http-request" or "http-response" rule.
struct HttpRule {
  enum class Action : uint8_t {
    kAllow,
    kDeny,
    kSetHeader,
    kAddHeader,
    kDelHeader,
    kRedirect,
    kReturn,
    kUseService,
  };
  enum class RedirectKind : uint8_t { kLocation, kPrefix, kScheme };
  Action action = Action::kAllow;
  std::string header;   // set/add/del-header: the name
  std::string value;    // set/add-header: the log-format value; redirect: the target
  uint16_t status = 0;  // deny (403 by default), return (200), redirect (302)
  RedirectKind redirect = RedirectKind::kLocation;
  std::vector<std::string> redirect_options;  // drop-query, append-slash, set-cookie X, ...
  std::string content_type;                   // return
  std::optional<std::string> body;            // return: string / lf-string
  bool body_is_log_format = false;            // return lf-string
  std::string service;                        // use-service: "prometheus-exporter"
  std::optional<Condition> condition;
  core::SourceLocation where;
};

// A syslog target: "log ADDR [len N] [format F] FACILITY [LEVEL [MINLEVEL]]".
struct LogTarget {
  enum class Kind : uint8_t { kStdout, kStderr, kUnix, kUdp };
  Kind kind = Kind::kUnix;
  std::string path;  // kUnix: the socket path; kUdp: the IP address
  uint16_t port = 514;
  uint32_t max_length = 1024;
  std::string format = "local";  // local, rfc3164, rfc5424, short, raw, priority, iso, timed
  std::string facility;          // kern, user, ..., local0..local7
  std::string level = "debug";   // the most verbose level sent
  std::string min_level = "emerg";
  core::SourceLocation where;
};

// Server parameters, on "server" and "default-server" lines.
struct ServerParams {
  bool check = false;
  Duration inter{2000};
  std::optional<Duration> fastinter;  // unset: inter (resolved on servers)
  std::optional<Duration> downinter;  // unset: inter (resolved on servers)
  uint32_t rise = 2;
  uint32_t fall = 3;
  uint32_t weight = 1;  // 0..256
  bool backup = false;
  uint32_t maxconn = 0;   // 0: no limit
  uint32_t maxqueue = 0;  // 0: no limit
  bool disabled = false;  // starts in maintenance
  Duration slowstart{0};
  Duration pool_purge_delay{5000};        // 0: idle connections are never purged
  std::optional<uint16_t> check_port;     // `port`: health checks go there
  std::optional<std::string> check_addr;  // `addr`: health checks go to this IP
};

struct Server {
  std::string name;
  Address address;
  ServerParams params;  // fastinter and downinter always set
  core::SourceLocation where;
};

struct Balance {
  enum class Algorithm : uint8_t {
    kRoundRobin,
    kStaticRr,
    kLeastConn,
    kFirst,
    kSource,
    kUri,
    kHdr,
    kRandom,
  };
  Algorithm algorithm = Algorithm::kRoundRobin;
  std::string hdr_name;          // kHdr
  bool use_domain_only = false;  // kHdr
  uint32_t random_draws = 2;     // kRandom: random(N)
  uint32_t uri_len = 0;          // kUri: 0 = whole path
  uint32_t uri_depth = 0;        // kUri: 0 = every directory
  bool uri_whole = false;        // kUri: also the query string
  bool uri_path_only = false;    // kUri: the path, not the authority
};
std::string_view to_string(Balance::Algorithm a);

struct HashType {
  enum class Method : uint8_t { kMapBased, kConsistent };
  enum class Function : uint8_t { kSdbm, kDjb2, kWt6, kCrc32 };
  Method method = Method::kMapBased;
  Function function = Function::kSdbm;
  bool avalanche = false;  // consistent without a function: sdbm with avalanche, as haproxy
};

// Unset timeouts follow haproxy: no connect/client/server timeout (with a warning);
// http-request falls back to client, http-keep-alive to http-request, queue to connect,
// tunnel to client/server, check to inter.
struct Timeouts {
  std::optional<Duration> connect, client, server, http_request, http_keep_alive, queue, tunnel,
      check;
};

struct HttpCheck {
  bool enabled = false;  // option httpchk
  std::string method = "OPTIONS";
  std::string uri = "/";
  std::string version = "HTTP/1.0";
  std::vector<std::pair<std::string, std::string>> headers;  // http-check send hdr
  std::string body;                                          // http-check send body
  struct Expect {
    enum class Kind : uint8_t { kStatus, kRstatus, kString, kRstring };
    Kind kind = Kind::kStatus;
    bool negate = false;
    std::string pattern;
    core::SourceLocation where;
  };
  std::optional<Expect> expect;  // unset: a 2xx or 3xx status passes
};

struct ForwardFor {
  bool enabled = false;
  std::string header = "X-Forwarded-For";
  std::string except;  // a network "10.0.0.0/8" whose clients get no header; empty: none
  bool if_none = false;
};

enum class HttpConnMode : uint8_t { kKeepAlive, kServerClose, kClose };
enum class HttpReuse : uint8_t { kNever, kSafe, kAggressive, kAlways };

// stats enable|uri|refresh|auth|realm|hide-version|admin, for the HTML/CSV page.
struct StatsPage {
  bool enabled = false;
  std::string uri = "/haproxy?stats";
  std::optional<Duration> refresh;
  std::vector<std::pair<std::string, std::string>> auth;  // user, password
  std::string realm;
  bool hide_version = false;
  std::optional<Condition> admin;  // stats admin if|unless COND
};

// A defaults, frontend, backend or listen section.
struct Proxy {
  enum class Kind : uint8_t { kDefaults, kFrontend, kBackend, kListen };
  Kind kind = Kind::kFrontend;
  std::string name;      // may be empty for defaults
  std::string defaults;  // the defaults section it started from; empty: none
  Mode mode = Mode::kTcp;
  uint32_t maxconn = 0;  // frontends: 0 means the global maxconn

  std::vector<Bind> binds;
  std::string default_backend;
  std::vector<BackendRule> use_backends;

  std::vector<Server> servers;
  ServerParams default_server;
  Balance balance;
  HashType hash_type;
  uint32_t retries = 3;
  bool redispatch = false;
  // option splice-request / splice-response (splice-auto: both): TCP mode and tunnels move
  // that direction's bytes with splice(2) when the frontend or the backend asks.
  bool splice_request = false;
  bool splice_response = false;
  bool all_backups = false;  // option allbackups: every backup in turn, not the first
  // option tcp-smart-accept: accepted connections acknowledge a client's first bytes with
  // the answer (unset: so in HTTP mode only, as haproxy). option tcp-smart-connect: a new
  // server connection's handshake ACK goes with the request.
  std::optional<bool> tcp_smart_accept;
  bool tcp_smart_connect = false;
  HttpCheck http_check;

  Timeouts timeouts;
  ForwardFor forwardfor;
  HttpConnMode http_conn_mode = HttpConnMode::kKeepAlive;
  HttpReuse http_reuse = HttpReuse::kSafe;

  bool httplog = false;
  bool tcplog = false;
  bool dontlognull = false;
  bool log_global = false;  // "log global": the global log targets too
  std::vector<LogTarget> logs;

  std::vector<Acl> acls;
  std::vector<HttpRule> http_request, http_response;
  // errorfile CODE PATH: the raw HTTP response sent instead of the built-in page.
  std::map<uint16_t, std::string> errorfiles;
  std::map<uint16_t, core::SourceLocation> errorfile_where;  // the FILE word of each
  StatsPage stats;
  // load-server-state-from-file: where the servers' saved states come from at start-up.
  enum class ServerStateFrom : uint8_t { kNone, kGlobal, kLocal };
  ServerStateFrom load_server_state = ServerStateFrom::kNone;
  core::SourceLocation load_server_state_where;
  // server-state-file-name; empty: the backend's own name (use-backend-name).
  std::string server_state_file_name;

  core::SourceLocation where;

  bool is_frontend() const { return kind == Kind::kFrontend || kind == Kind::kListen; }
  bool is_backend() const { return kind == Kind::kBackend || kind == Kind::kListen; }
};
std::string_view to_string(Proxy::Kind k);

struct StatsSocket {
  Address address;               // kUnix, kAbns or an IP and port
  std::optional<uint32_t> mode;  // unix socket permissions, octal
  std::string level = "operator";
  std::string user, group;
  bool expose_fd_listeners = false;
  core::SourceLocation where;
};

struct Global {
  std::optional<uint32_t> maxconn;   // unset: from the file descriptor limit, as haproxy
  std::optional<uint32_t> nbthread;  // unset: one per CPU
  bool daemon = false;
  bool nosplice = false;  // never splice(2), whatever the proxies' splice options
  // busy-polling: the threads never sleep; no busy-polling: they sleep as soon as they are
  // out of work; unset: they nap a moment first while nearly saturated (core/idle_poll.h).
  std::optional<bool> busy_polling;
  bool master_worker = false;
  std::string pidfile, user, group, chroot;
  std::vector<LogTarget> logs;
  std::vector<StatsSocket> stats_sockets;
  Duration stats_timeout{10000};
  uint32_t tune_bufsize = 16384;
  uint32_t tune_http_maxhdr = 101;
  std::optional<Duration> hard_stop_after;
  std::string ca_base, crt_base;  // accepted for TLS-only settings; no effect yet
  // server-state-base and server-state-file: the saved servers' states read at start-up.
  std::string server_state_base, server_state_file;
};

struct Config {
  Global global;
  std::vector<Proxy> defaults;  // every defaults section, as written
  std::vector<Proxy> proxies;   // frontends, backends and listens, in file order

  const Proxy* find_backend(std::string_view name) const;
  const Proxy* find_frontend(std::string_view name) const;
};

// Applies conditional blocks, then parses and validates every line; every problem goes to
// `diags` with file:line:col and a hint. Use the result only when diags has no errors.
Config build_config(const std::vector<conf::Line>& lines, core::Diagnostics& diags,
                    const conf::EnvLookup& env = {});

// Reads the paths like `haproxy -f` (files, or directories of *.cfg) and builds the config.
// Unset variables on lines inside false .if blocks are not warned about.
Config load_config(const std::vector<std::string>& paths, core::Diagnostics& diags,
                   const conf::EnvLookup& env = {});

// Every keyword table as Markdown, for docs/lb.md.
std::string keyword_reference_markdown();

}  // namespace tandem::lb
