// Client sessions: a TCP session is a server connection and two pumps; an HTTP session parses
// requests one at a time, forwards each to a server and streams the response back.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "core/object_cache.h"
#include "lb/proxy/internal.h"

namespace tandem::lb::proxy::detail {
namespace {

using core::Duration;
using core::TimePoint;
using logfmt::SessionEnd;
using logfmt::TermPhase;
constexpr TimePoint kNever = TimePoint::max();

// A fixed buffer holding unconsumed bytes in [begin, end). Its storage comes from the
// thread's pool when bytes are to be read into it, and goes back by release() when empty.
class Buffer {
 public:
  Buffer(BufferPool& pool, size_t capacity) : pool_(pool), cap_(static_cast<uint32_t>(capacity)) {}
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() {
    if (data_ != nullptr) pool_.put(data_);
  }
  std::string_view data() const {
    return data_ == nullptr ? std::string_view{} : std::string_view{data_ + begin_, end_ - begin_};
  }
  bool empty() const { return begin_ == end_; }
  void consume(size_t n) {
    begin_ += static_cast<uint32_t>(n);
    if (begin_ == end_) begin_ = end_ = 0;
  }
  // Room to read into, after moving the unconsumed bytes to the front when needed.
  asio::mutable_buffer space() {
    if (data_ == nullptr) data_ = pool_.get(cap_);
    if (end_ == cap_ && begin_ > 0) {
      std::memmove(data_, data_ + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    return asio::buffer(data_ + end_, cap_ - end_);
  }
  void commit(size_t n) { end_ += static_cast<uint32_t>(n); }
  void clear() { begin_ = end_ = 0; }
  // Gives the storage back when nothing is buffered.
  void release() {
    if (data_ == nullptr || !empty()) return;
    pool_.put(data_);
    data_ = nullptr;
  }
  bool holds() const { return data_ != nullptr; }

 private:
  BufferPool& pool_;
  char* data_ = nullptr;
  uint32_t cap_;  // tune.bufsize: well under 4 GiB
  uint32_t begin_ = 0;
  uint32_t end_ = 0;
};

// An optional time in 8 bytes (TimePoint::min() for none): sessions keep a few.
class MaybeTime {
 public:
  explicit operator bool() const { return t_ != TimePoint::min(); }
  MaybeTime& operator=(TimePoint t) {
    t_ = t;
    return *this;
  }
  void reset() { t_ = TimePoint::min(); }
  operator std::optional<TimePoint>() const {  // NOLINT: as the optional it replaces
    return *this ? std::optional<TimePoint>(t_) : std::nullopt;
  }

 private:
  TimePoint t_ = TimePoint::min();
};

std::optional<Duration> first_of(std::optional<Duration> a, std::optional<Duration> b) {
  return a ? a : b;
}

void set_nodelay(int fd) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// asio remembers in a socket's state whether it made the descriptor non-blocking itself, and
// otherwise does so (one ioctl) before its first asynchronous operation. A socket made with
// SOCK_NONBLOCK is marked here instead. The member is protected: reached through a derived
// class's using-declaration, which yields a pointer to the base's member.
// Checked against asio 1.18 to 1.28 (Debian 12 ships 1.22): re-read socket_ops.hpp's state
// bits before widening the range.
static_assert(ASIO_VERSION >= 101800 && ASIO_VERSION < 102900,
              "mark_non_blocking/mark_not_dup rely on asio's socket state bits: check them");
struct SocketImplAccess : Socket {
  using Socket::impl_;
};
void mark_non_blocking(Socket& s) {
  auto& impl = (s.*&SocketImplAccess::impl_).get_implementation();
  impl.state_ |= asio::detail::socket_ops::internal_non_blocking;
}
// asio takes an accepted or assigned descriptor for a possible dup() of another one and then
// removes it from epoll by hand (an epoll_ctl) before closing it. Ours are never duplicated:
// close(2) alone takes them out of the epoll set.
void mark_not_dup(Socket& s) {
  auto& impl = (s.*&SocketImplAccess::impl_).get_implementation();
  impl.state_ &= static_cast<unsigned char>(~asio::detail::socket_ops::possible_dup);
}

// A read that tells asio's reactor when it drained the socket. asio tries a read before it
// waits for a descriptor unless the descriptor's last read came back "exhausted", which its
// own reads report at end of stream only; so after a response the next read of the client
// (its next request) and, after a request, the first read of the server (its response)
// each failed with EAGAIN first: two system calls per keep-alive request for nothing.
// haproxy's rule is ours here: a read shorter than the buffer emptied the socket (TCP hands
// over all it holds), so it reports done_and_exhausted and the reactor waits for the next
// readiness event before reading again. The reactor records that under the descriptor's
// lock in the pass that made the read, so an event that comes after it is never missed.
// Built on asio 1.22's reactor_op and epoll_reactor::start_op (the version range is checked
// above, with the socket state bits). No per-operation cancellation slot: sessions cancel
// their reads through the socket (cancel, close), which ends these as asio's own.
template <typename Handler>
class DrainingRecvOp : public asio::detail::reactor_op {
 public:
  DrainingRecvOp(int fd, asio::mutable_buffer buf, Handler&& h)
      : reactor_op(std::error_code(), &perform_recv, &complete),
        fd_(fd),
        buf_(buf),
        handler_(std::move(h)) {}

  static void* allocate() {
    return asio::detail::thread_info_base::allocate(
        asio::detail::thread_context::top_of_thread_call_stack(), sizeof(DrainingRecvOp));
  }

 private:
  static status perform_recv(reactor_op* base) {
    auto* o = static_cast<DrainingRecvOp*>(base);
    if (o->buf_.size() == 0) return done;  // as asio's: nothing asked, nothing read, no error
    for (;;) {
      const ssize_t n = ::recv(o->fd_, o->buf_.data(), o->buf_.size(), MSG_DONTWAIT);
      if (n > 0) {
        o->bytes_transferred_ = static_cast<size_t>(n);
        return static_cast<size_t>(n) < o->buf_.size() ? done_and_exhausted : done;
      }
      if (n == 0) {
        o->ec_ = asio::error::eof;
        return done_and_exhausted;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return not_done;
      o->ec_ = std::error_code(errno, asio::error::get_system_category());
      return done;
    }
  }

  // owner is null when the io_context is destroyed with the operation pending: free only.
  static void complete(void* owner, asio::detail::scheduler_operation* base,
                       const std::error_code& /*result_ec*/, size_t /*bytes*/) {
    auto* o = static_cast<DrainingRecvOp*>(base);
    Handler handler(std::move(o->handler_));
    const std::error_code ec = o->ec_;
    const size_t n = o->bytes_transferred_;
    o->~DrainingRecvOp();
    asio::detail::thread_info_base::deallocate(
        asio::detail::thread_context::top_of_thread_call_stack(), o, sizeof(DrainingRecvOp));
    if (owner != nullptr) std::move(handler)(ec, n);
  }

  int fd_;
  asio::mutable_buffer buf_;
  Handler handler_;
};

// async_read_some for our sockets, with DrainingRecvOp: completes with (error_code, bytes).
template <typename Token>
auto async_read_draining(Socket& s, asio::mutable_buffer buf, Token&& token) {
  return asio::async_initiate<Token, void(std::error_code, size_t)>(
      [&s, buf](auto handler) {
        using Op = DrainingRecvOp<std::decay_t<decltype(handler)>>;
        auto& impl = (s.*&SocketImplAccess::impl_).get_implementation();
        auto& reactor = asio::use_service<asio::detail::epoll_reactor>(
            asio::query(s.get_executor(), asio::execution::context));
        auto* op = new (Op::allocate()) Op(impl.socket_, buf, std::move(handler));
        reactor.start_op(asio::detail::epoll_reactor::read_op, impl.socket_, impl.reactor_data_, op,
                         /*is_continuation=*/false, /*allow_speculative=*/true);
      },
      token);
}

// The client's socket, which joins the thread's epoll set only when the session first has to
// wait for it (asio registers a descriptor when it is assigned). A client that sends its
// request with the connection and closes after the answer never enters it, as with haproxy,
// which also reads first: no epoll_ctl at accept and no removal at close (about 2.5% of
// the CPU of a new-connection request). Until then the descriptor is held here.
class ClientSocket {
 public:
  ClientSocket(asio::io_context& io, int fd, const tcp& protocol)
      : sock_(io), fd_(fd), protocol_(protocol) {}
  ~ClientSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  ClientSocket(const ClientSocket&) = delete;
  ClientSocket& operator=(const ClientSocket&) = delete;

  // The asio socket for asynchronous operations: the descriptor is registered first if it
  // is not yet. A failed registration closes it (the operations then fail).
  Socket& io() {
    if (fd_ >= 0) {
      std::error_code ec;
      sock_.assign(protocol_, fd_, ec);
      if (ec) {
        ::close(fd_);
      } else {
        mark_non_blocking(sock_);  // accept4(SOCK_NONBLOCK)
        mark_not_dup(sock_);
      }
      fd_ = -1;
    }
    return sock_;
  }
  bool registered() const { return fd_ < 0; }
  bool is_open() const { return fd_ >= 0 || sock_.is_open(); }
  int native_handle() { return fd_ >= 0 ? fd_ : sock_.native_handle(); }
  // Nothing waits on a descriptor that is not registered: nothing to cancel then.
  void cancel(std::error_code& ec) {
    if (fd_ < 0) sock_.cancel(ec);
  }
  void close(std::error_code& ec) {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
      return;
    }
    sock_.close(ec);
  }
  void shutdown(Socket::shutdown_type what, std::error_code& ec) {
    if (fd_ < 0) {
      sock_.shutdown(what, ec);
    } else if (::shutdown(fd_, static_cast<int>(what)) != 0) {
      ec = std::error_code(errno, asio::error::get_system_category());
    }
  }
  tcp::endpoint local_endpoint(std::error_code& ec) {
    if (fd_ < 0) return sock_.local_endpoint(ec);
    tcp::endpoint ep;
    socklen_t len = static_cast<socklen_t>(ep.capacity());
    if (::getsockname(fd_, ep.data(), &len) != 0) {
      ec = std::error_code(errno, asio::error::get_system_category());
      return {};
    }
    ep.resize(len);
    return ep;
  }

 private:
  Socket sock_;
  int fd_;  // >= 0: not registered yet
  tcp protocol_;
};

// An address as rules compare it: a v4-mapped IPv6 address is the IPv4 one.
IpAddr ip_of(const tcp::endpoint& ep) {
  IpAddr ip;
  const asio::ip::address a = ep.address();
  if (a.is_v4() || (a.is_v6() && a.to_v6().is_v4_mapped())) {
    const auto v4 =
        a.is_v4() ? a.to_v4() : asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
    const auto b = v4.to_bytes();
    std::copy(b.begin(), b.end(), ip.bytes.begin());
  } else {
    ip.bytes = a.to_v6().to_bytes();
    ip.v6 = true;
  }
  return ip;
}

// The memory of a parked connection's one pending operation, of its exact size: asio's own
// per-thread recycling hands out blocks sized for the largest operation seen (a write of
// several buffers), several hundred bytes too many for each of thousands of idle clients.
template <typename T>
struct ExactAllocator {
  using value_type = T;
  ExactAllocator() = default;
  template <typename U>
  ExactAllocator(const ExactAllocator<U>&) noexcept {}  // NOLINT: converting, as allocators are
  T* allocate(size_t n) { return std::allocator<T>().allocate(n); }
  void deallocate(T* p, size_t n) { std::allocator<T>().deallocate(p, n); }
  template <typename U>
  bool operator==(const ExactAllocator<U>&) const noexcept {
    return true;
  }
};

size_t status_class(int status) {
  return status >= 100 && status < 600 ? static_cast<size_t>(status / 100) : 0;
}

}  // namespace

std::string endpoint_ip(const tcp::endpoint& ep) {
  auto a = ep.address();
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_string();
  }
  return a.to_string();
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(ThreadRt& t, FrontendRt& fe, int client_fd, const tcp::endpoint& peer, uint16_t unix_id)
      : t_(t),
        fe_(fe),
        clock_(t.worker.clock()),
        client_(t.worker.io(), client_fd, peer.protocol()),
        server_(t.worker.io()),
        cbuf_(t.buffers, t.shared.bufsize),
        sbuf_(t.buffers, t.shared.bufsize) {
    accepted_ = clock_.now();
    peer_ = peer;
    unix_ = unix_id != 0;
    // A unix socket client has no address: haproxy shows it as "unix" and the number of the
    // listener it came through.
    client_port_ = unix_ ? unix_id : peer.port();
    accept_wall_ = std::chrono::system_clock::now();
    prev_end_ = accepted_;
    // The local address costs a getsockname(2): taken now only when logs will want it (the
    // client socket may be gone by then), else when a rule or a port-0 server asks.
    if (fe_.logger != nullptr || t_.shared.options.on_request) learn_local();
    // First in the thread's list of sessions.
    list_next_ = t_.sessions;
    if (list_next_ != nullptr) list_next_->list_prev_ = this;
    t_.sessions = this;
    ++t_.live_tasks;
    ++fe_.counters.sessions_current;
    ++fe_.counters.sessions_total;
  }

  ~Session() {
    unqueue_deadline();
    set_idle_wait(false);
    leave_queue();
    release_server();
    --fe_.counters.sessions_current;
    if (list_prev_ != nullptr) {
      list_prev_->list_next_ = list_next_;
    } else {
      t_.sessions = list_next_;
    }
    if (list_next_ != nullptr) list_next_->list_prev_ = list_prev_;
    t_.shared.global_conns.fetch_sub(1, std::memory_order_relaxed);
    t_.shared.frontend_conns[fe_index()].fetch_sub(1, std::memory_order_relaxed);
    t_.session_ended();
    t_.task_ended();
  }

  static asio::awaitable<void> run(std::shared_ptr<Session> self) {
    if (!self->http_started_) self->log_connect();
    if (self->fe_.spec->cfg->mode == Mode::kHttp) {
      co_await self->run_http(self);
      if (self->parked_) {
        park(std::move(self));
        co_return;
      }
      if (self->linger_) co_await self->linger();
    } else {
      co_await self->run_tcp(self);
    }
    self->close_both();
  }

  // An idle HTTP connection between requests, its buffers given back (read_client_waiting):
  // its coroutines end too, and a plain completion handler holding the session waits for
  // the client's next bytes with a one-byte MSG_PEEK. Bytes start the session's coroutine
  // again; an error (close, reset, the keep-alive timeout's cancel) ends the session.
  static void park(std::shared_ptr<Session> self) {
    Socket& client = self->client_.io();
    auto peek = asio::buffer(&self->peek_byte_, 1);
    client.async_receive(
        peek, Socket::message_peek,
        asio::bind_allocator(ExactAllocator<void>{},
                             [self = std::move(self)](std::error_code ec, size_t) mutable {
                               Session& s = *self;
                               s.parked_ = false;
                               s.woken_by_bytes_ = !ec;
                               if (ec) {
                                 s.disarm(Side::kClient);
                                 s.idle_ = false;
                                 s.close_both();
                                 return;
                               }
                               asio::io_context& io = s.t_.worker.io();
                               asio::co_spawn(io, run(std::move(self)), asio::detached);
                             }));
  }

  void soft_stop() {
    if (!idle_) return;
    // A request already in the socket is served (with Connection: close) rather than lost
    // with the connection: the client would have to retry it.
    int pending = 0;
    if (client_.is_open() && ::ioctl(client_.native_handle(), FIONREAD, &pending) == 0 &&
        pending > 0)
      return;
    close_both();
  }
  void hard_stop() { close_both(); }
  Session* next_in_thread() const { return list_next_; }
  bool uses_server(size_t bi, size_t si) const {
    return srv_ != nullptr && be_ != nullptr && backend_index() == bi && server_index_ == si;
  }

  // A slot was handed over while waiting in the backend's queue (this thread).
  void wake_from_queue() {
    if (queue_timer_) queue_timer_->cancel();
  }

 private:
  enum class Side : uint8_t { kClient, kServer };
  enum class Connect : uint8_t { kOk, kNoServer, kQueueFull, kQueueTimeout, kFailed };
  // kRepick: the server a request queued for went down and `option redispatch` lets the
  // request choose again.
  enum class Slot : uint8_t { kOk, kNoServer, kQueueFull, kQueueTimeout, kAborted, kRepick };

  void learn_local() {
    if (local_known_) return;
    local_known_ = true;
    if (unix_) return;  // no IP address nor port on that side either
    std::error_code ec;
    auto local = client_.local_endpoint(ec);
    if (ec) return;
    local_port_ = local.port();
    local_addr_ = ip_of(local);
  }
  // What ACLs see of the connection (made for each evaluation: idle connections keep none).
  lb::RequestContext acl_base() {
    learn_local();
    lb::RequestContext c;
    c.src = ip_of(peer_);
    c.src_port = client_port_;
    c.dst = local_addr_;
    c.dst_port = local_port_;
    return c;
  }
  uint16_t local_port() {
    learn_local();
    return local_port_;
  }

  size_t fe_index() const { return static_cast<size_t>(fe_.spec - t_.shared.frontends.data()); }

  // ---- inactivity deadlines: arming is a store; the thread's heap re-checks ----
  //
  // A session sits in its thread's heap (ThreadRt::deadlines) under the earliest deadline it
  // had when it was queued. A later deadline (the usual case: every read pushes the client's
  // further) changes nothing there; an earlier one moves the session up. When its key comes,
  // on_watchdog() compares the real deadlines and queues the session again if it is early.
  // One timer per thread instead of one per session: no allocation per connection, and an
  // idle connection holds no timer of its own.

  void arm(Side side, std::optional<Duration> d) {
    TimePoint& slot = side == Side::kClient ? client_deadline_ : server_deadline_;
    slot = d ? clock_.now() + *d : kNever;
    TimePoint next = std::min(client_deadline_, server_deadline_);
    if (next != kNever) queue_deadline(next);
  }
  void disarm(Side side) { (side == Side::kClient ? client_deadline_ : server_deadline_) = kNever; }

  void on_watchdog() {
    TimePoint now = clock_.now();
    std::error_code ignored;
    if (client_deadline_ <= now) {
      client_timed_out_ = true;
      client_deadline_ = kNever;
      client_.cancel(ignored);
    }
    if (server_deadline_ <= now) {
      server_timed_out_ = true;
      server_deadline_ = kNever;
      server_.cancel(ignored);
    }
    TimePoint next = std::min(client_deadline_, server_deadline_);
    if (next != kNever) queue_deadline(next);
  }

  static constexpr uint32_t kNotQueued = UINT32_MAX;

  // In the heap under `when`, or under an earlier key it already has.
  void queue_deadline(TimePoint when) {
    std::vector<Session*>& h = t_.deadlines;
    if (wd_index_ == kNotQueued) {
      wd_key_ = when;
      wd_index_ = static_cast<uint32_t>(h.size());
      h.push_back(this);
    } else if (when < wd_key_) {
      wd_key_ = when;
    } else {
      return;
    }
    sift_up(h, wd_index_);
    if (wd_index_ == 0) arm_thread_timer(t_);
  }
  void unqueue_deadline() {
    if (wd_index_ == kNotQueued) return;
    std::vector<Session*>& h = t_.deadlines;
    const size_t i = wd_index_;
    wd_index_ = kNotQueued;
    Session* last = h.back();
    h.pop_back();
    if (last == this) return;
    h[i] = last;
    last->wd_index_ = static_cast<uint32_t>(i);
    sift_up(h, i);
    sift_down(h, last->wd_index_);
    // The thread's timer may now fire early for nothing: it re-arms itself then.
  }
  static void place(std::vector<Session*>& h, size_t i, Session* s) {
    h[i] = s;
    s->wd_index_ = static_cast<uint32_t>(i);
  }
  static void sift_up(std::vector<Session*>& h, size_t i) {
    Session* s = h[i];
    while (i > 0) {
      const size_t parent = (i - 1) / 2;
      if (!(s->wd_key_ < h[parent]->wd_key_)) break;
      place(h, i, h[parent]);
      i = parent;
    }
    place(h, i, s);
  }
  static void sift_down(std::vector<Session*>& h, size_t i) {
    Session* s = h[i];
    const size_t n = h.size();
    for (;;) {
      size_t child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && h[child + 1]->wd_key_ < h[child]->wd_key_) ++child;
      if (!(h[child]->wd_key_ < s->wd_key_)) break;
      place(h, i, h[child]);
      i = child;
    }
    place(h, i, s);
  }
  static void arm_thread_timer(ThreadRt& t) {
    if (t.deadlines.empty()) return;
    if (!t.deadline_timer) t.deadline_timer = t.worker.clock().make_timer();
    const TimePoint at = t.deadlines.front()->wd_key_;
    if (t.deadline_timer->armed() && t.deadline_timer->deadline() <= at) return;
    ThreadRt* tp = &t;
    t.deadline_timer->arm_at(at, [tp] { fire_deadlines(*tp); });
  }
  // The thread's timer: every session whose key has come checks its deadlines.
  static void fire_deadlines(ThreadRt& t) {
    std::vector<Session*>& h = t.deadlines;
    const TimePoint now = t.worker.clock().now();
    while (!h.empty() && h.front()->wd_key_ <= now) {
      Session* s = h.front();
      s->unqueue_deadline();
      s->on_watchdog();
    }
    arm_thread_timer(t);
  }

  void close_both() {
    std::error_code ignored;
    if (client_.is_open()) client_.close(ignored);
    if (server_.is_open()) server_.close(ignored);
    if (join_) join_->cancel();
  }

  // keep_idle: the connection is clean (whole response read, keep-alive) and goes to the
  // thread's idle list of its server for a later request.
  void release_server(bool keep_idle = false) {
    if (srv_ != nullptr) {
      ServerRt& srt = be_->servers[server_index_];
      auto& idle = srt.idle;
      // Kept while the connections in use (this one counted) and idle stay within the
      // estimated need (or this period's peak, before a first estimate), or when the server
      // has no idle connection yet: haproxy's rule.
      if (keep_idle && server_.is_open()) {
        const uint64_t need = std::max({srt.counters.sessions_current, srt.est_need, srt.max_used});
        if (idle.size() < kMaxIdlePerServer &&
            (idle.empty() || srt.counters.sessions_current + idle.size() <= need)) {
          idle.push_back({std::move(server_), clock_.now()});
          server_ = Socket(t_.worker.io());
          t_.schedule_idle_purge(srt, srv_->cfg->params.pool_purge_delay);
        } else {
          // A clean connection nobody will reuse is reset rather than closed, as haproxy
          // does: the response was read whole, so the reset discards nothing, and neither
          // side keeps the connection in TIME_WAIT or spends a FIN exchange on it.
          const struct ::linger reset_on_close { 1, 0 };
          ::setsockopt(server_.native_handle(), SOL_SOCKET, SO_LINGER, &reset_on_close,
                       sizeof reset_on_close);
        }
      }
      const BackendSpec& bs = *be_->spec;
      bs.conns->fetch_sub(1, std::memory_order_relaxed);
      release_slot(t_, backend_index(), server_index_);
      --be_->servers[server_index_].counters.sessions_current;
      --be_->counters.sessions_current;
      srv_ = nullptr;
    }
    std::error_code ignored;
    if (server_.is_open()) server_.close(ignored);
  }

  // ---- backend and server choice ----

  int choose_backend(const http1::Head* head) {
    const FrontendSpec& fs = *fe_.spec;
    const auto& rules = fs.cfg->use_backends;
    for (size_t i = 0; i < rules.size(); ++i) {
      if (fs.rule_backends[i] < 0) continue;
      bool taken = true;
      const ProxyRules* compiled = rules_of(fs.proxy_index);
      if (rules[i].condition && !t_.shared.options.condition && compiled != nullptr &&
          compiled->use_backends.size() == rules.size()) {
        lb::RequestContext ctx = acl_base();
        ctx.request = head;
        taken =
            !compiled->use_backends[i].condition || compiled->use_backends[i].condition->eval(ctx);
      } else if (rules[i].condition) {
        if (t_.shared.options.condition) {
          const std::string ip = client_ip();
          RequestContext ctx{fs.cfg, head, ip, client_port_, local_port()};
          taken = t_.shared.options.condition(*rules[i].condition, ctx);
        } else {
          taken = false;
          if (!t_.shared.warned_condition.exchange(true)) {
            core::logger().warn(
                "frontend {}: use_backend conditions are not evaluated yet (no ACL engine); "
                "such rules are not taken",
                fs.cfg->name);
          }
        }
      }
      if (taken) return fs.rule_backends[i];
    }
    return fs.default_backend;
  }

  Pool::Pick pick(const http1::Head* head, std::optional<size_t> exclude) {
    std::string_view uri, header;
    if (head != nullptr) {
      uri = head->target;
      if (be_->pool->hashes_header()) {
        if (const http1::Header* h = http1::find_header(head->headers, be_->pool->header_name()))
          header = h->value;
      }
    }
    // The client's address as the kernel gave it (a v4-mapped IPv6 address stays 16 bytes).
    std::array<uint8_t, 16> source{};
    size_t source_len = 0;
    if (peer_.address().is_v4()) {
      auto b = peer_.address().to_v4().to_bytes();
      std::copy(b.begin(), b.end(), source.begin());
      source_len = b.size();
    } else {
      auto b = peer_.address().to_v6().to_bytes();
      std::copy(b.begin(), b.end(), source.begin());
      source_len = b.size();
    }
    return be_->pool->pick(std::span<const uint8_t>(source.data(), source_len), uri, header,
                           exclude, clock_.now());
  }

  // Picks and connects with retries; redispatch moves the last retry to another server.
  // A parked connection to server `i` the server has not closed meanwhile, if any.
  // `retryable`: the whole request is in hand, so a connection found closed when used gets
  // the request again on a new one. Then a connection parked for less than kTrustIdle is
  // taken without the MSG_PEEK probe (as haproxy, which relies on its poller's events for
  // idle connections): a server seldom closes one that fast, and the retry covers it.
  bool take_idle(size_t i, bool retryable) {
    static constexpr Duration kTrustIdle = std::chrono::seconds(1);
    auto& idle = be_->servers[i].idle;
    while (!idle.empty()) {
      Socket sock = std::move(idle.back().socket);
      const TimePoint since = idle.back().since;
      idle.pop_back();
      if (retryable && clock_.now() - since < kTrustIdle) {
        server_ = std::move(sock);
        return true;
      }
      char byte;
      // Readable while idle means EOF or junk: either way not reusable.
      ssize_t n = ::recv(sock.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        server_ = std::move(sock);
        return true;
      }
      std::error_code ignored;
      sock.close(ignored);
    }
    return false;
  }

  size_t backend_index() const { return static_cast<size_t>(be_ - t_.backends.data()); }
  uint32_t maxconn_of(size_t i) const {
    return be_->spec->server_maxconn[i].load(std::memory_order_relaxed);
  }

  // A connection slot on a server of be_: a pick whose slot is free, else a turn in the
  // backend's FIFO (new requests queue behind waiting ones, as haproxy).
  // Without waiting: kOk or kNoServer, or nothing when the request must queue.
  // `queue_server`: set to the server to queue for when the request's key belongs to a full
  // one (hashing), else -1 (the backend's queue).
  std::optional<Slot> take_slot_now(const http1::Head* head, std::optional<size_t> exclude,
                                    size_t& out, int& queue_server) {
    const BackendSpec& bs = *be_->spec;
    const bool others_wait = bs.waiting->length.load(std::memory_order_acquire) > 0;
    queue_server = -1;
    for (int tries = 0; tries < 4; ++tries) {
      Pool::Pick r = pick(head, exclude);
      if (r.outcome == Pool::Outcome::kNoServer) return Slot::kNoServer;
      if (r.outcome == Pool::Outcome::kServerFull) {
        queue_server = static_cast<int>(r.index);
        break;
      }
      if (r.outcome == Pool::Outcome::kAllFull || others_wait) break;
      // Another thread may have taken the last slot since the pick: pick again.
      if (try_take_slot(bs.server_conns[r.index], maxconn_of(r.index))) {
        out = r.index;
        return Slot::kOk;
      }
    }
    return std::nullopt;
  }

  // At the head of the queue: takes a free slot, if any, and leaves the queue.
  bool try_from_front(const std::shared_ptr<Waiter>& w, const http1::Head* head,
                      std::optional<size_t> exclude, size_t& out) {
    BackendQueue& q = *be_->spec->waiting;
    std::lock_guard lock(q.mu);
    if (w->server >= 0) {
      const size_t si = static_cast<size_t>(w->server);
      auto& mine = q.server_waiters[si];
      if (mine.empty() || mine.front() != w || !be_->pool->usable(si)) return false;
      if (!try_take_slot(be_->spec->server_conns[si], maxconn_of(si))) return false;
      mine.pop_front();
      q.server_length[si].fetch_sub(1, std::memory_order_acq_rel);
      out = si;
      return true;
    }
    if (q.waiters.empty() || q.waiters.front() != w) return false;
    Pool::Pick r = pick(head, exclude);
    if (r.outcome != Pool::Outcome::kPicked) return false;
    if (!try_take_slot(be_->spec->server_conns[r.index], maxconn_of(r.index))) return false;
    q.waiters.pop_front();
    q.length.fetch_sub(1, std::memory_order_acq_rel);
    out = r.index;
    return true;
  }

  // Out of the queue if still in it; false when a grant already took it out.
  bool remove_from_queue(const std::shared_ptr<Waiter>& w) {
    BackendQueue& q = *be_->spec->waiting;
    std::lock_guard lock(q.mu);
    const size_t si = static_cast<size_t>(w->server);
    auto& d = w->server >= 0 ? q.server_waiters[si] : q.waiters;
    auto it = std::find(d.begin(), d.end(), w);
    if (it == d.end()) return false;
    d.erase(it);
    (w->server >= 0 ? q.server_length[si] : q.length).fetch_sub(1, std::memory_order_acq_rel);
    return true;
  }

  // The session ends while queued: out of the queue, or hand a grant in flight on.
  void leave_queue() {
    if (!waiter_) return;
    if (!remove_from_queue(waiter_)) {
      if (waiter_->granted >= 0) {
        release_slot(t_, backend_index(), static_cast<size_t>(waiter_->granted));
      } else {
        waiter_->abandoned = true;
      }
    }
    waiter_.reset();
  }

  // `server` >= 0: the request waits for that server alone (its key's, see take_slot_now);
  // when that server's maxqueue is reached it waits in the backend's queue instead, for any
  // server, as haproxy hands it to the dispatcher.
  asio::awaitable<Slot> wait_in_queue(const http1::Head* head, std::optional<size_t> exclude,
                                      size_t& out, int server = -1) {
    const BackendSpec& bs = *be_->spec;
    BackendQueue& q = *bs.waiting;
    auto w = std::make_shared<Waiter>();
    w->thread = &t_;
    w->session = weak_from_this();
    {
      std::lock_guard lock(q.mu);
      const size_t si = static_cast<size_t>(server);
      if (server >= 0 && q.server_limit[si] > 0 &&
          q.server_waiters[si].size() >= q.server_limit[si]) {
        server = -1;
      }
      if (server < 0 && q.limit > 0 && q.waiters.size() >= q.limit) co_return Slot::kQueueFull;
      w->server = server;
      w->seq = q.next_seq++;
      (server >= 0 ? q.server_waiters[si] : q.waiters).push_back(w);
      auto& length = server >= 0 ? q.server_length[si] : q.length;
      auto& max = server >= 0 ? q.server_max[si] : q.max;
      uint32_t len = length.fetch_add(1, std::memory_order_acq_rel) + 1;
      uint32_t m = max.load(std::memory_order_relaxed);
      while (len > m && !max.compare_exchange_weak(m, len, std::memory_order_relaxed)) {
      }
    }
    waiter_ = w;
    if (server < 0) ++be_->counters.queue_current;
    const TimePoint deadline = bs.queue_timeout ? clock_.now() + *bs.queue_timeout : kNever;
    Slot result = Slot::kQueueTimeout;
    for (;;) {
      if (w->granted >= 0) {
        out = static_cast<size_t>(w->granted);
        result = Slot::kOk;
        break;
      }
      // A slot freed while we were queuing finds no waiter yet: the head looks for itself.
      if (try_from_front(w, head, exclude, out)) {
        result = Slot::kOk;
        break;
      }
      // haproxy's redistribution: with `option redispatch`, the requests waiting for a
      // server that went down (or into maintenance) choose again.
      if (w->server >= 0 && bs.cfg->redispatch &&
          !be_->pool->usable(static_cast<size_t>(w->server)) && remove_from_queue(w)) {
        result = Slot::kRepick;
        break;
      }
      const TimePoint now = clock_.now();
      // A graceful stop lets queued requests wait for their turn; a hard one closes them.
      const bool gone = !client_.is_open();
      if (gone || now >= deadline) {
        result = gone ? Slot::kAborted : Slot::kQueueTimeout;
        if (!remove_from_queue(w)) w->abandoned = true;  // a grant in flight goes on
        break;
      }
      Duration step = std::chrono::milliseconds(50);
      if (deadline != kNever) step = std::min<Duration>(step, deadline - now);
      if (!queue_timer_) queue_timer_ = std::make_unique<asio::steady_timer>(t_.worker.io());
      queue_timer_->expires_after(step);
      co_await queue_timer_->async_wait(kNothrow);
    }
    waiter_.reset();
    if (server < 0) --be_->counters.queue_current;
    if (result == Slot::kQueueTimeout) {
      ++be_->counters.queue_timeouts;
      bs.waiting->timeouts.fetch_add(1, std::memory_order_relaxed);
    }
    co_return result;
  }

  // Picks, takes a slot (or queues) and connects, with retries; redispatch moves the last
  // retry to another server.
  // `retryable`: the whole request is in hand (see take_idle).
  asio::awaitable<Connect> connect_server(const http1::Head* head, bool allow_reuse = false,
                                          bool retryable = false) {
    const BackendSpec& bs = *be_->spec;
    const uint32_t attempts = bs.cfg->retries + 1;
    std::optional<size_t> exclude;
    int chosen = -1;
    TimePoint t0 = clock_.now();
    for (uint32_t attempt = 0; attempt < attempts; ++attempt) {
      const bool last = attempt + 1 == attempts;
      bool need_pick = chosen < 0 || (last && attempt > 0 && bs.cfg->redispatch);
      if (!need_pick) {
        // haproxy's turn-around: do not hammer a server that refused a moment ago.
        co_await wait_for(std::min<Duration>(bs.connect.value_or(std::chrono::seconds(1)),
                                             std::chrono::seconds(1)));
        if (!client_.is_open()) co_return Connect::kFailed;
        const size_t c = static_cast<size_t>(chosen);
        if (!try_take_slot(bs.server_conns[c], maxconn_of(c))) need_pick = true;
      }
      if (need_pick) {
        if (chosen >= 0 && last && bs.cfg->redispatch) {
          exclude = static_cast<size_t>(chosen);
          ++be_->counters.redispatches;
          redispatched_ = true;
        }
        size_t idx = 0;
        std::optional<Slot> now;
        do {
          int queue_server = -1;
          now = take_slot_now(head, exclude, idx, queue_server);
          if (!now) now = co_await wait_in_queue(head, exclude, idx, queue_server);
        } while (*now == Slot::kRepick);
        switch (*now) {
          case Slot::kRepick:
          case Slot::kOk:
            break;
          case Slot::kNoServer:
            ended(SessionEnd::kServerRefused, TermPhase::kConnect);
            co_return Connect::kNoServer;
          case Slot::kQueueFull:
            ended(SessionEnd::kServerRefused, TermPhase::kQueue);
            co_return Connect::kQueueFull;
          case Slot::kQueueTimeout:
            ended(SessionEnd::kServerTimeout, TermPhase::kQueue);
            co_return Connect::kQueueTimeout;
          case Slot::kAborted:
            ended(SessionEnd::kClientAbort, TermPhase::kQueue);
            co_return Connect::kFailed;
        }
        chosen = static_cast<int>(idx);
      }
      if (!queue_left_) queue_left_ = clock_.now();
      if (attempt > 0) ++be_->counters.retries;
      const size_t ci = static_cast<size_t>(chosen);
      const ServerSpec& ss = bs.servers[ci];
      tcp::endpoint ep = ss.endpoint;
      if (ep.port() == 0) ep.port(local_port());
      std::error_code ec;
      reused_ = attempt == 0 && allow_reuse && take_idle(ci, retryable);
      if (reused_) {
        ++be_->counters.reused;
        ++be_->servers[ci].counters.reused;
      } else {
        server_timed_out_ = false;
        arm(Side::kServer, bs.connect);
        ec = co_await connect_to(ep, head != nullptr && bs.cfg->tcp_smart_connect);
        disarm(Side::kServer);
        if (!ec && !server_.is_open()) ec = asio::error::operation_aborted;
      }
      ServerRt& srt = be_->servers[ci];
      if (!ec) {
        srv_ = &ss;
        server_index_ = ci;
        server_name_ = ss.cfg->name;
        bs.conns->fetch_add(1, std::memory_order_relaxed);
        ++srt.counters.sessions_current;
        srt.max_used = std::max<uint64_t>(srt.max_used, srt.counters.sessions_current);
        ++srt.counters.sessions_total;
        ++be_->counters.sessions_current;
        ++be_->counters.sessions_total;
        if (srt.failing) {
          srt.failing = false;
          core::logger().info("server {}/{} accepts connections again", bs.cfg->name, ss.cfg->name);
        }
        const TimePoint now = clock_.now();
        t_connect_ = now - t0;
        connected_ = now;
        retries_done_ = attempt;
        co_return Connect::kOk;
      }
      release_slot(t_, backend_index(), ci);
      std::error_code ignored;
      server_.close(ignored);
      ++srt.counters.connect_errors;
      ++be_->counters.connect_errors;
      server_name_ = ss.cfg->name;
      server_index_ = ci;
      retries_done_ = attempt;
      if (!srt.failing) {
        srt.failing = true;
        core::logger().warn("server {}/{}: connect failed: {}", bs.cfg->name, ss.cfg->name,
                            server_timed_out_ ? "timeout" : ec.message());
      }
      if (!client_.is_open()) {
        ended(SessionEnd::kClientAbort, TermPhase::kConnect);
        co_return Connect::kFailed;
      }
      if (last) {
        ended(server_timed_out_ ? SessionEnd::kServerTimeout : SessionEnd::kServerRefused,
              TermPhase::kConnect);
      }
    }
    co_return Connect::kFailed;
  }

  // A new connection in server_: a non-blocking socket and connect(2), a wait for
  // writability while it is in progress (none when it is already done), then SO_ERROR. asio's
  // async_connect costs an ioctl(FIONBIO) and a poll(2) more for the same.
  // `smart` (option tcp-smart-connect, a request in hand): the socket leaves quick-ack mode
  // first, so the kernel holds the handshake's last ACK and the request carries it.
  asio::awaitable<std::error_code> connect_to(const tcp::endpoint& ep, bool smart) {
    std::error_code ec;
    int fd =
        ::socket(ep.protocol().family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
    if (fd < 0) co_return std::error_code(errno, asio::error::get_system_category());
    set_nodelay(fd);
    if (smart) {
      const int off = 0;
      ::setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &off, sizeof off);
    }
    int r = ::connect(fd, ep.data(), static_cast<socklen_t>(ep.size()));
    const int connect_errno = r == 0 ? 0 : errno;
    server_.assign(ep.protocol(), fd, ec);
    if (ec) {
      ::close(fd);
      co_return ec;
    }
    mark_non_blocking(server_);
    mark_not_dup(server_);
    if (r == 0) co_return ec;
    if (connect_errno != EINPROGRESS) {
      co_return std::error_code(connect_errno, asio::error::get_system_category());
    }
    // A near server (loopback, the same host) has usually answered the SYN by the time
    // connect(2) returns: one poll(2) that does not wait finds the socket writable and saves
    // adding EPOLLOUT to the epoll set and a turn of the event loop.
    pollfd pfd{fd, POLLOUT, 0};
    const int ready = ::poll(&pfd, 1, 0);
    if (ready <= 0 || (pfd.revents & (POLLERR | POLLHUP)) == 0) {
      if (ready == 1 && (pfd.revents & POLLOUT) != 0) co_return ec;
      std::tie(ec) = co_await server_.async_wait(Socket::wait_write, kNothrow);
      if (ec) co_return ec;
      if (!server_.is_open()) co_return asio::error::operation_aborted;
    }
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(server_.native_handle(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
      err = errno;
    }
    if (err != 0) ec = std::error_code(err, asio::error::get_system_category());
    co_return ec;
  }

  asio::awaitable<void> wait_for(Duration d) {
    asio::steady_timer timer(t_.worker.io());
    timer.expires_after(d);
    co_await timer.async_wait(kNothrow);
  }

  // ---- TCP mode ----

  asio::awaitable<void> run_tcp(std::shared_ptr<Session> self) {
    int be = choose_backend(nullptr);
    if (be < 0) {
      ended(SessionEnd::kServerRefused, TermPhase::kConnect);
      log_end(false);
      co_return;
    }
    be_ = &t_.backends[static_cast<size_t>(be)];
    Connect c = co_await connect_server(nullptr);
    if (c != Connect::kOk) {
      log_end(false);
      co_return;
    }
    co_await tunnel(self);
    release_server();
    log_end(false);
  }

  // Forwards both ways until both sides ended; half-closes are passed on.
  // The inactivity limits of a tunnel: `timeout tunnel`, else the side's own.
  std::optional<Duration> tunnel_timeout(Side side) const {
    const BackendSpec& bs = *be_->spec;
    return first_of(bs.tunnel, side == Side::kClient ? fe_.spec->client : bs.server);
  }

  asio::awaitable<void> tunnel(std::shared_ptr<Session> self) {
    pump_done_ = false;
    asio::co_spawn(t_.worker.io(), pump(self, Side::kServer), asio::detached);
    co_await pump(self, Side::kClient);
    while (!pump_done_) co_await join().async_wait(kNothrow);
    if (join_) join_->expires_at(asio::steady_timer::time_point::max());
  }

  // One direction of a tunnel: where its bytes come from and go, the buffer they pass
  // through when copied, and the inactivity limits of both sides.
  struct Direction {
    Direction(Session& s, Side side)
        : from_client(side == Side::kClient),
          in(from_client ? s.client_.io() : s.server_),
          out(from_client ? s.server_ : s.client_.io()),
          buf(from_client ? s.cbuf_ : s.sbuf_),
          to(from_client ? Side::kServer : Side::kClient),
          tin(s.tunnel_timeout(side)),
          tout(s.tunnel_timeout(to)) {}
    // Bytes this direction read (client side) and wrote, in the session's counters.
    void count_in(Session& s, size_t n) const {
      if (from_client) s.count_client_read(n);
    }
    void count_out(Session& s, size_t n) const {
      if (from_client) {
        s.count_server_write(n);
      } else {
        s.count_client_write(n);
      }
    }
    bool from_client;
    Socket& in;
    Socket& out;
    Buffer& buf;
    Side to;
    std::optional<Duration> tin, tout;
  };

  // Copies bytes from `from` to the other side: bounded buffer, half-close on EOF.
  static asio::awaitable<void> pump(std::shared_ptr<Session> self, Side from) {
    Session& s = *self;
    const Direction d(s, from);
    bool failed = false;
    for (;;) {
      // Bytes already buffered (left after an HTTP upgrade head) go first.
      if (!co_await drain_buffer(s, d)) {
        failed = true;
        break;
      }
      if (!d.in.is_open()) break;
      SpliceEnd end;
      if (s.splices(from)) {
        end = co_await splice_loop(s, from);
        if (end == SpliceEnd::kUnavailable) {
          s.splice_failed_ = true;  // copy from now on
          continue;
        }
      } else {
        end = co_await copy_loop(s, from);
      }
      if (end == SpliceEnd::kEof) {
        std::error_code ignored;
        d.out.shutdown(Socket::shutdown_send, ignored);
        (d.from_client ? s.client_eof_ : s.server_eof_) = true;
        if (s.client_eof_ && s.server_eof_) s.close_both();
      } else {
        failed = true;
      }
      break;
    }
    if (failed) {
      if (s.client_timed_out_) ++s.fe_.counters.timeouts;
      if (s.server_timed_out_ && s.be_ != nullptr) ++s.be_->counters.timeouts;
      if (s.client_timed_out_) {
        s.ended(SessionEnd::kClientTimeout, TermPhase::kData);
      } else if (s.server_timed_out_) {
        s.ended(SessionEnd::kServerTimeout, TermPhase::kData);
      } else {
        s.ended(d.from_client ? SessionEnd::kClientAbort : SessionEnd::kServerAbort,
                TermPhase::kData);
      }
      s.close_both();
    }
    s.disarm(from);
    if (from == Side::kServer) {
      s.pump_done_ = true;
      if (s.join_) s.join_->cancel();
    }
  }

  enum class SpliceEnd : uint8_t { kEof, kFailed, kUnavailable };

  // haproxy's rule: a direction is spliced when its option is on the frontend or the
  // backend (splice-auto: both directions), global nosplice not set, and splice has not
  // been refused on this session.
  bool splices(Side from) const {
    if (!t_.shared.options.splice || splice_failed_) return false;
    auto wants = [from](const Proxy* p) {
      return p != nullptr && (from == Side::kClient ? p->splice_request : p->splice_response);
    };
    return wants(fe_.spec->cfg) || (be_ != nullptr && wants(be_->spec->cfg));
  }

  // The direction's buffered bytes out through asio's write, waiting for room as needed.
  // False: the write failed.
  static asio::awaitable<bool> drain_buffer(Session& s, const Direction& d) {
    while (!d.buf.empty()) {
      s.arm(d.to, d.tout);
      auto [ec, n] = co_await asio::async_write(d.out, asio::buffer(d.buf.data()), kNothrow);
      d.count_out(s, n);
      if (ec) co_return false;
      d.buf.consume(n);
    }
    co_return true;
  }

  // Bytes moved in a row by one direction of a tunnel before the thread's other work gets a
  // turn: a fast pair of peers would otherwise keep the loop to themselves.
  static constexpr size_t kTurnBudget = 256 * 1024;

  // Copies from one socket to the other through the session's buffer, with plain recv(2) and
  // send(2) while they make progress; asio only waits (its reads and writes try first and
  // wait for the edge without re-arming the descriptor) when a socket has nothing or no room.
  static asio::awaitable<SpliceEnd> copy_loop(Session& s, Side from) {
    const Direction d(s, from);
    auto count_in = [&](size_t n) {
      d.count_in(s, n);
      d.buf.commit(n);
    };
    size_t turn = 0;
    for (;;) {
      while (!d.buf.empty()) {
        s.arm(d.to, d.tout);  // each transfer restarts the inactivity timer
        const auto data = d.buf.data();
        const ssize_t n =
            ::send(d.out.native_handle(), data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
          d.count_out(s, static_cast<size_t>(n));
          d.buf.consume(static_cast<size_t>(n));
          turn += static_cast<size_t>(n);
          continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) co_return SpliceEnd::kFailed;
        if (!co_await drain_buffer(s, d)) co_return SpliceEnd::kFailed;  // no room: wait
      }
      if (turn >= kTurnBudget) {
        turn = 0;
        co_await asio::post(s.t_.worker.io(), asio::use_awaitable);
      }
      if (!d.in.is_open()) co_return SpliceEnd::kFailed;
      s.arm(from, d.tin);
      const auto space = d.buf.space();
      const ssize_t n = ::recv(d.in.native_handle(), space.data(), space.size(), MSG_DONTWAIT);
      if (n > 0) {
        count_in(static_cast<size_t>(n));
        continue;
      }
      if (n == 0) co_return SpliceEnd::kEof;
      if (errno != EAGAIN && errno != EWOULDBLOCK) co_return SpliceEnd::kFailed;
      auto [ec, got] = co_await d.in.async_read_some(d.buf.space(), kNothrow);
      if (ec == asio::error::eof) co_return SpliceEnd::kEof;
      if (ec) co_return SpliceEnd::kFailed;
      count_in(got);
    }
  }

  // Moves bytes from one socket to the other through a pipe with splice(2), never through
  // user space. A pipe that cannot be made, or a socket splice refuses (EINVAL), falls back
  // to copying; nothing has been read then.
  static asio::awaitable<SpliceEnd> splice_loop(Session& s, Side from) {
    const Direction d(s, from);
    int p[2];
    if (::pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) co_return SpliceEnd::kUnavailable;
    struct Pipe {
      int fds[2];
      ~Pipe() {
        ::close(fds[0]);
        ::close(fds[1]);
      }
    } pipe{{p[0], p[1]}};
    std::error_code ignored;
    d.in.native_non_blocking(true, ignored);
    d.out.native_non_blocking(true, ignored);
    // At most this much per splice(2) into the pipe: a whole pipe (64 KiB) at a time left
    // the peers feeding and draining this proxy more of the work (bench/lb's TCP scenario,
    // 100 KB answers: 0.85x haproxy's requests/s at 64 KiB, 0.95x at 24 KiB, for 0.68x and
    // 0.78x its CPU).
    const size_t chunk = std::max<size_t>(s.t_.shared.bufsize, 24576);
    size_t queued = 0;  // bytes in the pipe
    bool moved_any = false;
    size_t turn = 0;
    for (;;) {
      while (queued > 0) {
        s.arm(d.to, d.tout);  // as the copy loop: each transfer restarts the inactivity timer
        ssize_t n = ::splice(p[0], nullptr, d.out.native_handle(), nullptr, queued,
                             SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n > 0) {
          queued -= static_cast<size_t>(n);
          turn += static_cast<size_t>(n);
          d.count_out(s, static_cast<size_t>(n));
          (d.from_client ? s.fe_.counters.spliced_in : s.fe_.counters.spliced_out) +=
              static_cast<size_t>(n);
          continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
          auto [ec] = co_await d.out.async_wait(Socket::wait_write, kNothrow);
          if (ec) co_return SpliceEnd::kFailed;
          continue;
        }
        co_return SpliceEnd::kFailed;
      }
      if (turn >= kTurnBudget) {
        turn = 0;
        co_await asio::post(s.t_.worker.io(), asio::use_awaitable);
      }
      if (!d.in.is_open()) co_return SpliceEnd::kFailed;
      s.arm(from, d.tin);
      ssize_t n = ::splice(d.in.native_handle(), nullptr, p[1], nullptr, chunk,
                           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        moved_any = true;
        queued = static_cast<size_t>(n);
        d.count_in(s, queued);
        continue;
      }
      if (n == 0) co_return SpliceEnd::kEof;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        auto [ec] = co_await d.in.async_wait(Socket::wait_read, kNothrow);
        if (ec) co_return SpliceEnd::kFailed;
        continue;
      }
      if (errno == EINVAL && !moved_any) co_return SpliceEnd::kUnavailable;
      co_return SpliceEnd::kFailed;
    }
  }

  void count_client_read(size_t n) {
    fe_.counters.bytes_in += n;
    bytes_in_ += n;
  }
  void count_server_write(size_t n) {
    if (be_ == nullptr) return;
    be_->counters.bytes_in += n;
    if (srv_ != nullptr) be_->servers[server_index_].counters.bytes_in += n;
  }
  // What the client's socket takes now, sent with one sendmsg(2) rather than through asio's
  // scheduler (its write completes by a posted handler, after whatever else is ready). With
  // `finish` (the last bytes before the connection closes) the send side is then shut at
  // once, as haproxy does: the FIN follows the data before the client can close first, and
  // whoever closes second pays for the TIME_WAIT socket. Errors are left to the
  // asynchronous write of the rest, which meets them again.
  size_t send_client_now(std::span<asio::const_buffer> bufs, bool finish) {
    std::array<iovec, 3> iov;
    const size_t count = std::min(bufs.size(), iov.size());
    size_t total = 0;
    for (size_t i = 0; i < count; ++i) {
      iov[i] = {const_cast<void*>(bufs[i].data()), bufs[i].size()};
      total += bufs[i].size();
    }
    msghdr msg{};
    msg.msg_iov = iov.data();
    msg.msg_iovlen = count;
    const ssize_t r = ::sendmsg(client_.native_handle(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (r <= 0) return 0;
    if (static_cast<size_t>(r) == total && finish) ::shutdown(client_.native_handle(), SHUT_WR);
    return static_cast<size_t>(r);
  }
  void count_client_write(size_t n) {
    fe_.counters.bytes_out += n;
    bytes_out_ += n;
    if (be_ == nullptr) return;
    be_->counters.bytes_out += n;
    if (srv_ != nullptr) be_->servers[server_index_].counters.bytes_out += n;
  }

  // ---- HTTP mode ----

  enum class HeadWait : uint8_t { kOk, kClosed, kTimeout, kRejected, kError, kParked };

  // Reads until the parser has a request head. Leftover body bytes stay in cbuf_.
  asio::awaitable<HeadWait> read_request_head(http1::Parser& req, bool first) {
    const FrontendSpec& fs = *fe_.spec;
    bool any = !cbuf_.empty();
    idle_ = !any && !first;
    if (any) started_ = clock_.now();
    for (;;) {
      if (!cbuf_.empty()) {
        if (!any) {
          any = true;
          idle_ = false;
          started_ = clock_.now();
        }
        http1::Progress p = req.feed(cbuf_.data());
        if (p.failed()) co_return HeadWait::kRejected;
        if (p.head_complete) {
          // Body bytes that came with the head: handled by the caller before consuming.
          std::string& head_body = work().head_body;
          head_body.clear();
          for (std::string_view piece : p.body) head_body.append(piece);
          head_message_complete_ = p.message_complete;
          cbuf_.consume(p.consumed);
          co_return HeadWait::kOk;
        }
        cbuf_.consume(p.consumed);
      }
      // A parked session woken by bytes (park()) has a request coming: it is read even
      // when stopping, as a connection that kept its read pending would have read it.
      if (t_.stopping && !any && !first && !woken_by_bytes_) co_return HeadWait::kClosed;
      woken_by_bytes_ = false;
      // The first request and a started head wait `timeout http-request`; an idle
      // keep-alive connection waits `timeout http-keep-alive`.
      std::optional<Duration> d =
          (!any && !first) ? first_of(fs.http_keep_alive, fs.http_request) : fs.http_request;
      client_timed_out_ = false;
      arm(Side::kClient, d);
      auto [ec, n] = co_await read_client_waiting(req, !any);
      if (parked_) co_return HeadWait::kParked;  // the deadline stays armed
      disarm(Side::kClient);
      if (ec) {
        idle_ = false;
        // A connection that never sent a byte gets 408 like one inside a head (haproxy 2.6
        // without `option http-ignore-probes`); an idle keep-alive one is closed silently.
        if (client_timed_out_) co_return any || first ? HeadWait::kTimeout : HeadWait::kClosed;
        // A client that leaves inside a head gets no answer, as with haproxy.
        co_return any ? HeadWait::kError : HeadWait::kClosed;
      }
      cbuf_.commit(n);
      count_client_read(n);
    }
  }

  // ---- idle connections without buffers ----

  // A read from the client while nothing of a request is buffered (`empty`). If it stays idle
  // past kBufferlessAfter, the thread's sweep cancels the read: the buffers go back to the
  // pool, the parser drops what it kept of the last request, and a one-byte MSG_PEEK (no
  // buffer) waits for the next bytes. Only a connection idle that long pays the extra calls.
  asio::awaitable<std::tuple<std::error_code, size_t>> read_client_waiting(http1::Parser& req,
                                                                           bool empty) {
    if (!client_.registered()) {
      // Not in the epoll set yet (ClientSocket): a request that came with the connection
      // is read without joining it; only a wait makes the descriptor join.
      const auto space = cbuf_.space();
      const ssize_t n = ::recv(client_.native_handle(), space.data(), space.size(), MSG_DONTWAIT);
      if (n > 0)
        co_return std::tuple<std::error_code, size_t>{std::error_code{}, static_cast<size_t>(n)};
      if (n == 0) co_return std::tuple<std::error_code, size_t>{asio::error::eof, 0};
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        co_return std::tuple<std::error_code, size_t>{
            std::error_code(errno, asio::error::get_system_category()), 0};
    }
    for (;;) {
      if (bufferless_) {
        auto [ec, n] = co_await client_.io().async_receive(asio::buffer(&peek_byte_, 1),
                                                           Socket::message_peek, kNothrow);
        if (ec) co_return std::tuple<std::error_code, size_t>{ec, 0};
        bufferless_ = false;  // bytes are there: read them into a buffer
      }
      set_idle_wait(empty);
      auto [ec, n] = co_await async_read_draining(client_.io(), cbuf_.space(), kNothrow);
      set_idle_wait(false);
      const bool shed = shed_requested_;
      shed_requested_ = false;
      if (shed && ec == asio::error::operation_aborted && !client_timed_out_ && client_.is_open() &&
          cbuf_.empty()) {
        cbuf_.release();
        sbuf_.release();
        work_.reset();
        // A first request is never parked: its `timeout http-request` ends in a 408, which
        // the parked handler cannot send.
        if (req.state() == http1::Parser::State::kIdle && http_started_) {
          parked_ = true;  // see park(): the parser goes with the coroutines
          co_return std::tuple<std::error_code, size_t>{ec, 0};
        }
        req.release_memory();
        bufferless_ = true;
        continue;
      }
      co_return std::tuple<std::error_code, size_t>{ec, n};
    }
  }

  // The thread's idle-with-buffers list is in idle_since_ order (appended at the tail), so
  // the sweep only looks at the sessions it sheds.
  void set_idle_wait(bool on) {
    if (on == idle_wait_) return;
    idle_wait_ = on;
    if (on) {
      idle_since_ = clock_.now();
      idle_prev_ = t_.idle_tail;
      idle_next_ = nullptr;
      (idle_prev_ != nullptr ? idle_prev_->idle_next_ : t_.idle_head) = this;
      t_.idle_tail = this;
      schedule_sweep(t_);
    } else {
      (idle_prev_ != nullptr ? idle_prev_->idle_next_ : t_.idle_head) = idle_next_;
      if (idle_next_ != nullptr) {
        idle_next_->idle_prev_ = idle_prev_;
      } else {
        t_.idle_tail = idle_prev_;
      }
      idle_prev_ = idle_next_ = nullptr;
    }
  }

 public:
  // Idle this long (up to twice, with the sweep's period) before the buffers go back.
  static constexpr Duration kBufferlessAfter = std::chrono::milliseconds(20);

  static void schedule_sweep(ThreadRt& t) {
    if (!t.idle_sweep) t.idle_sweep = t.worker.clock().make_timer();
    if (t.idle_sweep->armed()) return;
    ThreadRt* tp = &t;
    t.idle_sweep->arm_at(t.worker.clock().now() + kBufferlessAfter, [tp] {
      const TimePoint now = tp->worker.clock().now();
      while (tp->idle_head != nullptr) {
        Session* s = tp->idle_head;
        if (now - s->idle_since_ < kBufferlessAfter) break;
        s->set_idle_wait(false);
        s->shed_requested_ = true;  // read_client_waiting gives the buffers back
        std::error_code ignored;
        s->client_.cancel(ignored);
      }
      if (tp->idle_head != nullptr) schedule_sweep(*tp);
    });
  }

 private:
  // The proxy's own answer for `status`: the backend's errorfile, else the frontend's, else
  // the built-in page (as haproxy looks them up).
  std::string_view error_page(int status) const {
    const auto& pages = t_.shared.error_pages;
    const auto code = static_cast<uint16_t>(status);
    if (be_ != nullptr) {
      const auto& m = pages[be_->spec->proxy_index];
      if (auto it = m.find(code); it != m.end()) return it->second;
    }
    const auto& m = pages[fe_.spec->proxy_index];
    if (auto it = m.find(code); it != m.end()) return it->second;
    return {};
  }

  // Sends an error and leaves the client connection to be closed.
  asio::awaitable<bool> send_error(int status) {
    std::string_view page = error_page(status);
    if (page.empty()) page = error_response(status);
    ++fe_.counters.http_status[status_class(status)];
    client_timed_out_ = false;
    arm(Side::kClient, fe_.spec->client);
    auto [ec, n] = co_await asio::async_write(client_.io(), asio::buffer(page), kNothrow);
    disarm(Side::kClient);
    bytes_out_ += n;
    fe_.counters.bytes_out += n;
    status_ = status;
    linger_ = true;
    co_return !ec;
  }

  // The proxy's own 502, 503 or 504 for a request it read whole: as haproxy 2.6 does, an
  // HTTP/1.1 client that wants keep-alive keeps its connection (the built-in page without
  // its `connection: close`); an errorfile goes out as it is and closes. True: kept.
  asio::awaitable<bool> send_gateway_error(int status, const http1::Head& head, bool whole) {
    if (!may_keep_client(head, whole) || head.version != http1::Version::k11 ||
        !error_page(status).empty() || !client_.is_open()) {
      co_await send_error(status);
      co_return false;
    }
    std::string page(error_response(status));
    constexpr std::string_view kClose = "connection: close\r\n";
    if (size_t at = page.find(kClose); at != std::string::npos && at < page.find("\r\n\r\n")) {
      page.erase(at, kClose.size());
    }
    ++fe_.counters.http_status[status_class(status)];
    status_ = status;
    const bool ok = co_await write_client(page);
    if (!ok) linger_ = true;
    co_return ok;
  }

  // After the proxy's own final answer the client may still be sending (a body nobody
  // read): closing with unread bytes sends a reset that can destroy the answer on its way.
  // So stop sending, and read and drop for a moment (at most 1 s and 1 MiB) before closing.
  asio::awaitable<void> linger() {
    std::error_code ec;
    if (!client_.is_open()) co_return;
    client_.shutdown(Socket::shutdown_send, ec);
    if (ec) co_return;
    const TimePoint until = clock_.now() + std::chrono::seconds(1);
    size_t dropped = 0;
    while (client_.is_open() && dropped < (size_t{1} << 20)) {
      const TimePoint now = clock_.now();
      if (now >= until) break;
      client_timed_out_ = false;
      arm(Side::kClient, until - now);
      cbuf_.clear();
      auto [rec, n] = co_await client_.io().async_read_some(cbuf_.space(), kNothrow);
      disarm(Side::kClient);
      if (rec) break;
      dropped += n;
    }
  }

  asio::awaitable<bool> write_server(std::string_view data) {
    arm(Side::kServer, be_->spec->server);
    auto [ec, n] = co_await asio::async_write(server_, asio::buffer(data), kNothrow);
    disarm(Side::kServer);
    count_server_write(n);
    co_return !ec;
  }

  asio::awaitable<bool> write_client(std::string_view data) {
    arm(Side::kClient, fe_.spec->client);
    auto [ec, n] = co_await asio::async_write(client_.io(), asio::buffer(data), kNothrow);
    disarm(Side::kClient);
    count_client_write(n);
    co_return !ec;
  }

  // A 101 to an upgrade or a 2xx to CONNECT: the head to the client, then raw bytes both
  // ways until either side ends. False: the head could not be written.
  asio::awaitable<bool> open_tunnel(std::shared_ptr<Session> self, http1::Head& rh,
                                    bool connect_ok) {
    http1::remove_hop_by_hop(rh.headers, {.keep_upgrade = !connect_ok});
    if (connect_ok) http1::del_header(rh.headers, "Content-Length");
    std::string& out = work().scratch;
    out.clear();
    http1::serialize_response_head(rh, out);
    if (!co_await write_client(out)) co_return false;
    // Wait for a request body pump (none for an upgrade) and go raw both ways.
    while (!pump_done_) co_await join().async_wait(kNothrow);
    if (join_) join_->expires_at(asio::steady_timer::time_point::max());
    co_await tunnel(std::move(self));
    co_return true;
  }

  // What send_client_now left of `bufs` (all but its first `sent` bytes), under `timeout
  // client`; adds what it wrote to `n`.
  asio::awaitable<std::error_code> write_client_rest(std::span<asio::const_buffer> bufs,
                                                     size_t sent, size_t& n) {
    size_t first = 0;
    while (sent >= bufs[first].size()) sent -= bufs[first++].size();
    bufs[first] += sent;
    arm(Side::kClient, fe_.spec->client);
    auto [ec, more] = co_await asio::async_write(client_.io(), bufs.subspan(first), kNothrow);
    disarm(Side::kClient);
    n += more;
    co_return ec;
  }

  asio::awaitable<void> run_http(std::shared_ptr<Session> self) {
    const FrontendSpec& fs = *fe_.spec;
    http1::Parser req(http1::Mode::kRequest, fs.limits, &fe_.counters.rejects);
    for (;;) {
      const bool first = !http_started_;
      HeadWait w = co_await read_request_head(req, first);
      if (w == HeadWait::kParked) co_return;
      http_started_ = true;
      if (w == HeadWait::kClosed) co_return;
      if (work_) work_->request_line.reset();
      if (w == HeadWait::kError) {
        // A client that leaves inside a head: logged as haproxy does (CR, 400), no answer.
        status_ = 400;
        ended(SessionEnd::kClientAbort, TermPhase::kRequest);
        log_end(true);
        co_return;
      }
      ++fe_.counters.http_requests;
      if (w == HeadWait::kTimeout) {
        ++fe_.counters.request_errors;
        ++fe_.counters.timeouts;
        ended(SessionEnd::kClientTimeout, TermPhase::kRequest);
        co_await send_error(408);
        log_end(true);
        co_return;
      }
      if (w == HeadWait::kRejected) {
        ++fe_.counters.request_errors;
        ended(SessionEnd::kDenied, TermPhase::kRequest);
        co_await send_error(http1::verdict(req.error(), http1::Mode::kRequest).status);
        log_end(true);
        co_return;
      }
      head_received_ = clock_.now();
      if (logs_end()) {  // only built when a line (or the hook) will use it
        const http1::Head& h = req.head();
        work().request_line = fmt::format("{} {} HTTP/1.{}", h.method, h.target,
                                          h.version == http1::Version::k10 ? 0 : 1);
      }
      bool keep = co_await serve_request(self, req);
      log_end(true);
      if (!keep || t_.stopping) co_return;
      next_request();
    }
  }

  // One request: backend, server, head and body out, response back. True: keep the client.
  asio::awaitable<bool> serve_request(std::shared_ptr<Session> self, http1::Parser& req) {
    const FrontendSpec& fs = *fe_.spec;
    t_response_ = Duration::zero();
    // Copy-assigned into the session's work area: the strings and vectors there keep their
    // storage from one request to the next.
    http1::Head& head = work().request_head;
    head = req.head();
    const bool request_whole = head_message_complete_ || head.no_body;
    // haproxy's order: the frontend's http-request rules, the backend choice (which sees
    // their rewrites), then the backend's own http-request rules.
    if (request_rules_stop(fs.proxy_index, head))
      co_return co_await answer_request_locally(work().outcome, head, request_whole);
    if (fs.cfg->stats.enabled && t_.shared.options.stats_page &&
        head.target.starts_with(fs.cfg->stats.uri)) {
      co_return co_await serve_stats(head, req);
    }
    int bi = choose_backend(&head);
    if (bi < 0) {
      ended(SessionEnd::kServerRefused, TermPhase::kConnect);
      co_await send_error(503);
      co_return false;
    }
    be_ = &t_.backends[static_cast<size_t>(bi)];
    ++be_->counters.http_requests;
    if (be_->spec->proxy_index != fs.proxy_index &&
        request_rules_stop(be_->spec->proxy_index, head))
      co_return co_await answer_request_locally(work().outcome, head, request_whole);
    const bool upgrade = head.upgrade;
    // Server connections are kept for HTTP/1.1 requests unless a close mode says otherwise;
    // `http-reuse safe` gives a client's first request a connection of its own.
    const HttpReuse reuse_mode = be_->spec->cfg->http_reuse;
    const bool reuse_ok = reuse_mode != HttpReuse::kNever && !upgrade &&
                          head.version == http1::Version::k11 &&
                          be_->spec->cfg->http_conn_mode == HttpConnMode::kKeepAlive &&
                          fs.cfg->http_conn_mode == HttpConnMode::kKeepAlive;
    const bool may_take_idle = reuse_ok && (reuse_mode != HttpReuse::kSafe || requests_ > 0);
    ++requests_;
    Connect c =
        co_await connect_server(&head, may_take_idle, head_message_complete_ || head.no_body);
    if (c != Connect::kOk) {
      if (!client_.is_open()) co_return false;
      co_return co_await send_gateway_error(503, head, request_whole);
    }
    co_return co_await exchange(std::move(self), req, head, upgrade, reuse_ok);
  }

  // The request to the server and the response back, on the connection serve_request got.
  // Apart from serve_request so that each of their coroutine frames stays within the 1020
  // bytes that asio recycles (a bigger one costs a malloc and evicts a cached frame).
  asio::awaitable<bool> exchange(std::shared_ptr<Session> self, http1::Parser& req,
                                 http1::Head& head, bool upgrade, bool reuse_ok) {
    const FrontendSpec& fs = *fe_.spec;
    const bool response_rules = has_response_rules();
    const BackendSpec& bs = *be_->spec;
    ++be_->servers[server_index_].counters.http_requests;

    // The head to the server: hop-by-hop headers out, X-Forwarded-For in, and close unless
    // the connection may be kept.
    http1::remove_hop_by_hop(head.headers,
                             {.keep_upgrade = upgrade, .keep_transfer_encoding = true});
    // No X-Forwarded-For for a unix socket client, which has no address (as haproxy).
    if (unix_) {
    } else if (fs.forwardfor_enabled) {
      http1::apply_forwardfor(head.headers, fs.forwardfor, client_ip());
    } else if (bs.forwardfor_enabled) {
      http1::apply_forwardfor(head.headers, bs.forwardfor, client_ip());
    }
    if (!upgrade && !reuse_ok) http1::add_header(head.headers, "Connection", "close");
    std::string& out = work().head_out;
    out.clear();
    http1::serialize_request_head(head, out);
    const bool chunked = head.chunked;
    if (chunked) {
      http1::append_chunk(out, work().head_body);
    } else {
      out.append(work().head_body);
    }
    const bool req_done_now = head_message_complete_ || head.no_body;
    if (chunked && head_message_complete_) http1::append_last_chunk(out, req.trailers());
    bool keep = false;
    bool done = false;
    bool server_keep = false;
    // A reused connection the server closed meanwhile gets one more try on a new one, when
    // the whole request is still in `out`.
    for (int round = 0;; ++round) {
      bool stale = false;
      if (!co_await write_server(out)) {
        if (reused_ && req_done_now && round == 0) {
          stale = true;
        } else {
          ++be_->counters.response_errors;
          co_await send_error(502);
          co_return false;
        }
      }
      req_body_done_ = req_done_now;
      req_body_failed_ = false;
      req_body_invalid_ = false;
      pump_done_ = true;
      if (!req_done_now && !stale) {
        pump_done_ = false;
        asio::co_spawn(t_.worker.io(), request_body_pump(self, &req, chunked), asio::detached);
      }

      // The response.
      // One response parser per session, reset for each response: its storage stays.
      std::optional<http1::Parser>& resp_parser = work().response_parser;
      if (!resp_parser) {
        resp_parser.emplace(http1::Mode::kResponse, fs.limits, &be_->counters.rejects);
      } else {
        resp_parser->reset(&be_->counters.rejects);
      }
      http1::Parser& resp = *resp_parser;
      resp.expect_response_to(head.method);
      bool head_sent = false;
      bool resp_chunked = false;
      bool any_response = false;
      const bool client_10 = head.version == http1::Version::k10;
      server_timed_out_ = false;
      while (!done && !stale) {
        if (sbuf_.empty()) {
          arm(Side::kServer, bs.server);
          auto [ec, n] = co_await async_read_draining(server_, sbuf_.space(), kNothrow);
          disarm(Side::kServer);
          if (ec && !any_response && reused_ && req_done_now && round == 0 && !server_timed_out_) {
            stale = true;
            break;
          }
          any_response = true;
          const TermPhase phase = head_sent ? TermPhase::kData : TermPhase::kHeaders;
          if (ec && req_body_invalid_) {
            // The pump found the client's body malformed and closed the server side: the
            // client is at fault, so it gets 400 (as from haproxy 2.6), not a 502.
            ended(SessionEnd::kDenied, TermPhase::kRequest);
            if (!head_sent && client_.is_open()) co_await send_error(400);
            keep = false;
            break;
          }
          if (ec && ec != asio::error::eof) {
            if (server_timed_out_) {
              ended(SessionEnd::kServerTimeout, phase);
            } else if (!client_.is_open()) {
              ended(SessionEnd::kClientAbort, phase);
            } else {
              ended(SessionEnd::kServerAbort, phase);
            }
            keep = false;
            if (server_timed_out_ && !head_sent) {
              ++be_->counters.timeouts;
              keep = co_await send_gateway_error(504, head, body_read_whole(req_done_now));
              done = keep;
            } else if (!head_sent && client_.is_open()) {
              ++be_->counters.response_errors;
              keep = co_await send_gateway_error(502, head, body_read_whole(req_done_now));
              done = keep;
            }
            break;
          }
          if (ec == asio::error::eof) {
            http1::Progress p = resp.finish();
            if (p.failed() || !p.message_complete) {
              ++be_->counters.response_errors;
              ended(SessionEnd::kServerAbort, phase);
              keep = false;
              if (!head_sent)
                done = keep = co_await send_gateway_error(502, head, body_read_whole(req_done_now));
              break;
            }
            done = true;
            keep = false;
            break;
          }
          sbuf_.commit(n);
        }
        http1::Progress p = resp.feed(sbuf_.data());
        if (p.failed()) {
          ++be_->counters.response_errors;
          ended(SessionEnd::kDenied, head_sent ? TermPhase::kData : TermPhase::kHeaders);
          keep = false;
          if (!head_sent)
            done = keep = co_await send_gateway_error(502, head, body_read_whole(req_done_now));
          break;
        }
        std::string& chunk_out = work().scratch;
        chunk_out.clear();
        if (p.head_complete) {
          http1::Head& rh = work().response_head;
          rh = resp.head();
          if (rh.interim()) {
            // 100 Continue and friends go to HTTP/1.1 clients as they are.
            sbuf_.consume(p.consumed);
            if (!client_10) {
              http1::serialize_response_head(rh, chunk_out);
              if (!co_await write_client(chunk_out)) break;
            }
            continue;
          }
          if (rh.status == 101 && !upgrade) {
            // A protocol switch the client never asked for: passing it on would leave the
            // client speaking another protocol to a proxy that still parses HTTP. haproxy
            // 2.6 answers 502 too.
            ++be_->counters.response_errors;
            ended(SessionEnd::kDenied, TermPhase::kHeaders);
            server_keep = false;
            done = keep = co_await send_gateway_error(502, head, body_read_whole(req_done_now));
            break;
          }
          if (t_response_ == Duration::zero() || !response_at_) {
            const TimePoint now = clock_.now();
            if (t_response_ == Duration::zero()) t_response_ = now - head_received_;
            if (!response_at_) response_at_ = now;
          }
          if (response_rules) {
            // The backend's http-response rules, then the frontend's.
            if (response_rules_stop(head, rh)) {
              // The server's answer is dropped, and with it its connection.
              keep = co_await answer_response_locally(work().outcome, head,
                                                      body_read_whole(req_done_now));
              done = true;
              server_keep = false;
              break;
            }
          }
          status_ = rh.status;
          ++fe_.counters.http_status[status_class(rh.status)];
          ++be_->counters.http_status[status_class(rh.status)];
          // A 2xx to CONNECT opens a tunnel as a 101 does (RFC 9110 9.3.6): it has no body,
          // so framing fields in it mean nothing and are dropped.
          const bool connect_ok =
              upgrade && head.method == "CONNECT" && rh.status >= 200 && rh.status < 300;
          if ((rh.status == 101 && upgrade) || connect_ok) {
            sbuf_.consume(p.consumed);
            if (co_await open_tunnel(std::move(self), rh, connect_ok)) co_return false;
            break;  // the head could not be written
          }
          if (upgrade) req.upgrade_refused();
          // An HTTP/1.0 client cannot read chunks: it gets the body plain, ended by close.
          const bool dechunk = rh.chunked && client_10;
          resp_chunked = rh.chunked && !dechunk;
          server_keep = reuse_ok && rh.keep_alive && !rh.upgrade;
          // Only the frontend's mode applies to the client connection (as in haproxy 2.6):
          // a backend's `option httpclose` closes the server side alone (reuse_ok).
          keep = head.keep_alive && !rh.body_until_eof && !dechunk &&
                 fs.cfg->http_conn_mode != HttpConnMode::kClose && !t_.stopping;
          http1::remove_hop_by_hop(rh.headers, {.keep_transfer_encoding = !dechunk});
          if (!keep) {
            http1::add_header(rh.headers, "Connection", "close");
          } else if (client_10) {
            http1::add_header(rh.headers, "Connection", "keep-alive");
          }
          http1::serialize_response_head(rh, chunk_out);
          head_sent = true;
        }
        if (resp_chunked) {
          for (std::string_view piece : p.body) http1::append_chunk(chunk_out, piece);
          if (p.message_complete) http1::append_last_chunk(chunk_out, resp.trailers());
        } else if (p.body.size() > 2) {
          // Many pieces (de-chunked for a 1.0 client): one copy rather than many writes.
          for (std::string_view piece : p.body) chunk_out.append(piece);
        }
        if (!chunk_out.empty() || (!resp_chunked && !p.body.empty())) {
          // Plain bodies go out as they came: a gather write, no copy.
          std::array<asio::const_buffer, 3> bufs;
          size_t nb = 0;
          if (!chunk_out.empty()) bufs[nb++] = asio::buffer(chunk_out);
          if (!resp_chunked && p.body.size() <= 2) {
            for (std::string_view piece : p.body) {
              if (nb == bufs.size()) break;
              bufs[nb++] = asio::buffer(piece);
            }
          }
          // The last bytes before the connection closes also end the send side at once.
          const bool finish = !keep && p.message_complete && pump_done_;
          const size_t now = send_client_now(std::span(bufs.data(), nb), finish);
          std::error_code ec;
          size_t n = now;
          if (now < asio::buffer_size(bufs))
            ec = co_await write_client_rest(std::span(bufs.data(), nb), now, n);
          count_client_write(n);
          if (ec) {
            ended(client_timed_out_ ? SessionEnd::kClientTimeout : SessionEnd::kClientAbort,
                  TermPhase::kData);
            keep = false;
            break;
          }
        }
        sbuf_.consume(p.consumed);
        if (p.message_complete) done = true;
      }
      if (!stale) break;
      release_server();
      sbuf_.clear();
      if (co_await connect_server(&head, false) != Connect::kOk) {
        if (client_.is_open()) co_await send_error(503);
        co_return false;
      }
    }
    t_total_ = clock_.now() - started_;

    // The request body may still be flowing (the server answered early): then the client
    // connection cannot be reused.
    if (!pump_done_) {
      keep = false;
      std::error_code ignored;
      client_.cancel(ignored);
      while (!pump_done_) co_await join().async_wait(kNothrow);
    }
    if (join_) join_->expires_at(asio::steady_timer::time_point::max());
    if (req_body_failed_) keep = false;
    const bool clean = done && server_keep && pump_done_ && req_body_done_ && !req_body_failed_ &&
                       sbuf_.empty() && !server_timed_out_;
    release_server(clean);
    sbuf_.clear();  // whatever the server sent after its response dies with the connection
    sbuf_.release();
    const bool keep_client = keep && done;
    co_return keep_client;
  }

  // Client -> server for a request body, de-framed by the parser and re-framed the same way.
  static asio::awaitable<void> request_body_pump(std::shared_ptr<Session> self, http1::Parser* req,
                                                 bool chunked) {
    Session& s = *self;
    const FrontendSpec& fs = *s.fe_.spec;
    std::string out;
    for (;;) {
      if (!s.cbuf_.empty()) {
        http1::Progress p = req->feed(s.cbuf_.data());
        if (p.failed()) {
          s.req_body_failed_ = true;
          s.req_body_invalid_ = true;
          ++s.fe_.counters.request_errors;
          std::error_code ignored;
          s.server_.close(ignored);  // the server must not see a half request as whole
          break;
        }
        std::array<asio::const_buffer, 4> bufs;
        size_t nb = 0;
        out.clear();
        if (chunked) {
          for (std::string_view piece : p.body) http1::append_chunk(out, piece);
          if (p.message_complete) http1::append_last_chunk(out, req->trailers());
          if (!out.empty()) bufs[nb++] = asio::buffer(out);
        } else {
          for (std::string_view piece : p.body) {
            if (nb < bufs.size()) bufs[nb++] = asio::buffer(piece);
          }
        }
        if (nb > 0) {
          s.arm(Side::kServer, s.be_->spec->server);
          auto [ec, n] =
              co_await asio::async_write(s.server_, std::span(bufs.data(), nb), kNothrow);
          s.disarm(Side::kServer);
          s.count_server_write(n);
          if (ec) {
            s.req_body_failed_ = true;
            break;
          }
        }
        s.cbuf_.consume(p.consumed);
        if (p.message_complete) {
          s.req_body_done_ = true;
          break;
        }
        if (p.consumed == 0 && !p.body.empty()) continue;
      }
      s.arm(Side::kClient, fs.client);
      auto [ec, n] = co_await s.client_.io().async_read_some(s.cbuf_.space(), kNothrow);
      s.disarm(Side::kClient);
      if (ec) {
        s.req_body_failed_ = true;
        if (ec == asio::error::eof) {
          (void)req->finish();
          std::error_code ignored;
          s.server_.close(ignored);
        }
        break;
      }
      s.cbuf_.commit(n);
      s.count_client_read(n);
    }
    s.pump_done_ = true;
    if (s.join_) s.join_->cancel();
  }

  // ---- rules and local answers ----

  const ProxyRules* rules_of(size_t proxy_index) const {
    return t_.shared.rules[proxy_index].get();
  }
  bool has_response_rules() const {
    const ProxyRules* f = rules_of(fe_.spec->proxy_index);
    const ProxyRules* b = rules_of(be_->spec->proxy_index);
    return (f != nullptr && !f->http_response.empty()) ||
           (b != nullptr && !b->http_response.empty());
  }
  // The request body is all read (a pump still running, or one that failed, is not).
  bool body_read_whole(bool req_done_now) const {
    return req_done_now || (pump_done_ && req_body_done_ && !req_body_failed_);
  }

  bool may_keep_client(const http1::Head& head, bool request_whole) const {
    return head.keep_alive && request_whole && !t_.stopping &&
           fe_.spec->cfg->http_conn_mode != HttpConnMode::kClose &&
           (be_ == nullptr || be_->spec->cfg->http_conn_mode != HttpConnMode::kClose);
  }

  // The outcome of rules is kept in the work area rather than in the coroutines' frames:
  // asio recycles frames of up to 1020 bytes only, and an Outcome is about 170.

  // One proxy's http-request rules. True: they answered (work().outcome says how).
  bool request_rules_stop(size_t proxy_index, http1::Head& head) {
    const ProxyRules* r = rules_of(proxy_index);
    if (r == nullptr || r->http_request.empty()) return false;
    lb::RequestContext ctx = acl_base();
    Outcome& o = work().outcome;
    o = r->http_request.run(head, ctx);
    return o.kind != Outcome::Kind::kContinue;
  }

  // The backend's http-response rules, then the frontend's (once for a listen section).
  // True: they answered in place of the server (work().outcome says how).
  bool response_rules_stop(const http1::Head& request, http1::Head& response) {
    lb::RequestContext ctx = acl_base();
    ctx.request = &request;
    Outcome& o = work().outcome;
    if (be_->spec->proxy_index != fe_.spec->proxy_index) {
      const ProxyRules* r = rules_of(be_->spec->proxy_index);
      if (r != nullptr && !r->http_response.empty()) {
        o = r->http_response.run(response, ctx);
        if (o.kind != Outcome::Kind::kContinue) return true;
      }
    }
    const ProxyRules* r = rules_of(fe_.spec->proxy_index);
    if (r == nullptr || r->http_response.empty()) return false;
    o = r->http_response.run(response, ctx);
    return o.kind != Outcome::Kind::kContinue;
  }

  // deny / redirect / return / use-service from http-request rules. Like haproxy, the client
  // connection stays open when the request allows it and was read whole.
  asio::awaitable<bool> answer_request_locally(const Outcome& o, const http1::Head& head,
                                               bool request_whole) {
    if (o.kind == Outcome::Kind::kDeny) {
      ++fe_.counters.denied_req;
      if (be_ != nullptr) ++be_->counters.denied_req;
      ended(SessionEnd::kDenied, TermPhase::kRequest);
    } else {
      ++fe_.counters.intercepted;
      ended(SessionEnd::kLocal, TermPhase::kRequest);
    }
    co_return co_await send_local(o, head, may_keep_client(head, request_whole));
  }

  // The same from http-response rules: the server's response is not forwarded.
  asio::awaitable<bool> answer_response_locally(const Outcome& o, const http1::Head& head,
                                                bool request_whole) {
    if (o.kind == Outcome::Kind::kDeny) {
      ++fe_.counters.denied_resp;
      ++be_->counters.denied_resp;
      ended(SessionEnd::kDenied, TermPhase::kHeaders);
    } else {
      ++fe_.counters.intercepted;
      ended(SessionEnd::kLocal, TermPhase::kHeaders);
    }
    co_return co_await send_local(o, head, may_keep_client(head, request_whole));
  }

  // The stats page: the body (a POST's admin form) is read whole first, within a buffer.
  asio::awaitable<bool> serve_stats(const http1::Head& head, http1::Parser& req) {
    const FrontendSpec& fs = *fe_.spec;
    std::string body = work().head_body;
    bool complete = head_message_complete_ || head.no_body;
    while (!complete) {
      if (body.size() > t_.shared.bufsize) {
        ++fe_.counters.request_errors;
        ended(SessionEnd::kDenied, TermPhase::kRequest);
        co_await send_error(413);
        co_return false;
      }
      if (!cbuf_.empty()) {
        http1::Progress p = req.feed(cbuf_.data());
        if (p.failed()) {
          ++fe_.counters.request_errors;
          ended(SessionEnd::kDenied, TermPhase::kRequest);
          co_await send_error(400);
          co_return false;
        }
        for (std::string_view piece : p.body) body.append(piece);
        cbuf_.consume(p.consumed);
        complete = p.message_complete;
        if (p.consumed > 0 || complete) continue;
      }
      client_timed_out_ = false;
      arm(Side::kClient, fs.http_request);
      auto [ec, n] = co_await client_.io().async_read_some(cbuf_.space(), kNothrow);
      disarm(Side::kClient);
      if (ec) {
        ended(client_timed_out_ ? SessionEnd::kClientTimeout : SessionEnd::kClientAbort,
              TermPhase::kRequest);
        if (client_timed_out_) co_await send_error(408);
        co_return false;
      }
      cbuf_.commit(n);
      count_client_read(n);
    }
    bool admin = false;
    if (const ProxyRules* r = rules_of(fs.proxy_index); r != nullptr && r->stats_admin) {
      lb::RequestContext ctx = acl_base();
      ctx.request = &head;
      admin = r->stats_admin->eval(ctx);
    }
    ++fe_.counters.intercepted;
    ended(SessionEnd::kLocal, TermPhase::kRequest);
    std::string out = t_.shared.options.stats_page(StatsRequest{fs.cfg, &head, body, admin});
    const int status = status_of(out);
    ++fe_.counters.http_status[status_class(status)];
    status_ = status;
    linger_ = true;
    co_await write_client(out);
    co_return false;
  }

  static int status_of(std::string_view response) {
    // "HTTP/1.1 200 ..." -> 200
    int status = 0;
    if (response.size() >= 12) std::from_chars(response.data() + 9, response.data() + 12, status);
    return status;
  }

  asio::awaitable<bool> send_local(const Outcome& o, const http1::Head& head, bool keep) {
    std::string out;
    int status = o.status;
    if (o.kind == Outcome::Kind::kService) {
      std::optional<std::string> answer;
      if (t_.shared.options.service) {
        const std::string ip = client_ip();
        RequestContext ctx{fe_.spec->cfg, &head, ip, client_port_, local_port()};
        answer = t_.shared.options.service(o.service, ctx);
      }
      if (!answer) {
        co_await send_error(503);
        co_return false;
      }
      out = std::move(*answer);
      status = status_of(out);
      keep = false;  // the service's framing is its own business: close after it
    } else if (std::string_view page = o.kind == Outcome::Kind::kDeny ? error_page(o.status) : "";
               !page.empty()) {
      out = page;  // an errorfile goes out as it is, and the connection closes after it
      keep = false;
    } else {
      out = render_response(o, !keep);
    }
    if (!keep) linger_ = true;
    ++fe_.counters.http_status[status_class(status)];
    if (be_ != nullptr) ++be_->counters.http_status[status_class(status)];
    status_ = status;
    const bool ok = co_await write_client(out);
    co_return ok&& keep;
  }

  // ---- traffic logs ----

  void ended(SessionEnd e, TermPhase p) {
    if (end_ == SessionEnd::kNormal) {
      end_ = e;
      phase_ = p;
    }
  }

  // The per-request state, cleared between two requests of a keep-alive connection.
  void next_request() {
    status_ = 0;
    bytes_in_ = bytes_out_ = 0;
    end_ = SessionEnd::kNormal;
    phase_ = TermPhase::kNone;
    queue_left_.reset();
    connected_.reset();
    response_at_.reset();
    retries_done_ = 0;
    redispatched_ = false;
    server_name_ = {};
    be_ = nullptr;
    prev_end_ = clock_.now();
  }

  // The default format: one line when the connection is accepted.
  void log_connect() {
    if (!fe_.logger || fe_.spec->line_format != logfmt::LineFormat::kConnect) return;
    logfmt::SessionLog s;
    s.client_ip = client_ip();
    s.client_port = client_port_;
    learn_local();
    s.frontend_ip = local_known_ ? local_addr_.to_string() : std::string();
    s.frontend_port = local_port_;
    s.frontend = fe_.spec->cfg->name;
    fe_.logger->emit(
        logfmt::Level::kInfo,
        logfmt::format_connect_log(s, fe_.spec->cfg->mode == Mode::kHttp, fe_.logger->max_line()));
  }

  // httplog / tcplog: one line per request (HTTP) or connection (TCP). Nothing is built when
  // the frontend has no log target and nobody asked for the facts.
  bool logs_end() const {
    return (fe_.logger != nullptr && fe_.spec->line_format != logfmt::LineFormat::kConnect) ||
           t_.shared.options.on_request;
  }

  void log_end(bool http) {
    const FrontendSpec& fs = *fe_.spec;
    const bool line = fe_.logger != nullptr && fs.line_format != logfmt::LineFormat::kConnect;
    if (!line && !t_.shared.options.on_request) return;
    const TimePoint now = clock_.now();
    logfmt::SessionLog s;
    s.client_ip = client_ip();
    s.client_port = client_port_;
    learn_local();
    s.frontend_ip = local_known_ ? local_addr_.to_string() : std::string();
    s.frontend_port = local_port_;
    s.frontend = fs.cfg->name;
    s.backend = be_ != nullptr ? be_->spec->cfg->name : fs.cfg->name;
    s.server = std::string(server_name_);
    logfmt::SessionTimes tm;
    tm.accept = prev_end_;
    tm.queue_left = queue_left_;
    tm.connected = connected_;
    tm.closed = now;
    auto wall = [&](TimePoint at) {
      return accept_wall_ +
             std::chrono::duration_cast<std::chrono::system_clock::duration>(at - accepted_);
    };
    if (http) {
      tm.request_start = started_;
      if (work_ && work_->request_line) tm.request_complete = head_received_;
      tm.response_headers = response_at_;
      logfmt::set_http_timers(s, tm);
      s.date = logfmt::to_local_time(wall(started_));
    } else {
      tm.accept = accepted_;
      logfmt::set_tcp_timers(s, tm);
      s.date = logfmt::to_local_time(accept_wall_);
    }
    s.status = status_;
    s.bytes_out = bytes_out_;
    s.bytes_in = bytes_in_;
    s.termination = logfmt::termination_state(end_, phase_);
    s.actconn = t_.shared.global_conns.load(std::memory_order_relaxed);
    s.feconn = t_.shared.frontend_conns[fe_index()].load(std::memory_order_relaxed);
    // As haproxy, counted when the line is written: this request's server connection has
    // been let go by then.
    if (be_ != nullptr) {
      s.beconn = be_->spec->conns->load(std::memory_order_relaxed);
      if (!server_name_.empty())
        s.srv_conn = be_->spec->server_conns[server_index_].load(std::memory_order_relaxed);
    }
    s.retries = retries_done_;
    s.redispatched = redispatched_;
    if (be_ != nullptr) {
      s.backend_queue = be_->spec->waiting->length.load(std::memory_order_relaxed);
      if (!server_name_.empty())
        s.srv_queue =
            be_->spec->waiting->server_length[server_index_].load(std::memory_order_relaxed);
    }
    if (work_) s.request_line = work_->request_line;
    if (line && logfmt::should_log_end(*fs.cfg, s)) {
      const size_t max = fe_.logger->max_line();
      fe_.logger->emit(logfmt::Level::kInfo, http && fs.line_format == logfmt::LineFormat::kHttp
                                                 ? logfmt::format_http_log(s, max)
                                                 : logfmt::format_tcp_log(s, max));
    }
    if (t_.shared.options.on_request) t_.shared.options.on_request(s);
  }

  ThreadRt& t_;
  FrontendRt& fe_;
  core::Clock& clock_;
  ClientSocket client_;
  Socket server_;
  Buffer cbuf_;
  Buffer sbuf_;
  // The main coroutine waits here for a pump (made when first needed, as the queue's timer:
  // an idle connection holds neither).
  std::unique_ptr<asio::steady_timer> join_;
  asio::steady_timer& join() {
    if (!join_) {
      join_ = std::make_unique<asio::steady_timer>(t_.worker.io(),
                                                   asio::steady_timer::time_point::max());
    }
    return *join_;
  }
  Session* list_prev_ = nullptr;  // the thread's sessions (ThreadRt::sessions)
  Session* list_next_ = nullptr;
  uint32_t wd_index_ = kNotQueued;  // place in the thread's deadline heap
  // (The request body's state, here where the layout leaves room.)
  bool req_body_done_ = false;
  bool req_body_failed_ = false;
  bool req_body_invalid_ = false;  // the pump stopped at a malformed body (answered 400)
  bool head_message_complete_ = false;
  TimePoint wd_key_{};  // the deadline it is queued under
  TimePoint client_deadline_ = kNever;
  TimePoint server_deadline_ = kNever;
  bool client_timed_out_ = false;
  bool server_timed_out_ = false;
  bool pump_done_ = true;
  bool client_eof_ = false;
  bool server_eof_ = false;
  bool idle_ = false;
  bool idle_wait_ = false;       // in read_client_waiting with nothing buffered
  bool shed_requested_ = false;  // the sweep cancelled that read
  bool bufferless_ = false;      // buffers given back: waiting with a MSG_PEEK
  bool parked_ = false;          // no coroutine: park()'s handler waits for bytes
  bool woken_by_bytes_ = false;  // park()'s handler saw bytes: the next read is not idle
  bool http_started_ = false;    // a first request head has been read (or refused)
  char peek_byte_ = 0;
  // Flags of later groups, kept here where the bytes above leave room (the layout of an
  // idle connection's session is its memory: pahole shows the holes).
  bool unix_ = false;          // a client of a unix@/abns@ listener
  bool local_known_ = false;   // local_addr_ and local_port_ taken
  bool redispatched_ = false;  // this request's last try went to another server
  TimePoint idle_since_{};
  Session* idle_prev_ = nullptr;  // the thread's idle-with-buffers list
  Session* idle_next_ = nullptr;
  // What serving a request uses, kept from one request to the next (the storage of its
  // strings and vectors with it) and given back when the connection goes idle.
  struct Work {
    std::optional<http1::Parser> response_parser;  // reset for each response
    http1::Head request_head;                      // the request as forwarded (rewritten)
    http1::Head response_head;
    std::string head_out;   // the request head to the server
    std::string scratch;    // a response head and re-framed body pieces to the client
    std::string head_body;  // body bytes that came with the request head
    std::optional<std::string> request_line;  // for the log; unset: <BADREQ>
    Outcome outcome;                          // of the last rules that answered locally
  };
  // Work areas dropped by sessions wait in a per-thread cache for the next one (a new
  // connection's request then copies into strings that already have room).
  static constexpr size_t kCachedWork = 64;
  using WorkCache = core::ThreadObjectCache<Work, kCachedWork>;
  struct WorkRecycler {
    void operator()(Work* w) const {
      // One that served a big head or body pieces is not worth its memory.
      if (w->head_out.capacity() > 4096 || w->scratch.capacity() > 4096 ||
          w->request_head.headers.size() + w->response_head.headers.size() > 64) {
        delete w;
        return;
      }
      w->response_parser.reset();  // its state goes to the parsers' own cache
      w->request_line.reset();     // the next session's log must not show this one's
      WorkCache::give(w);
    }
  };
  std::unique_ptr<Work, WorkRecycler> work_;
  Work& work() {
    if (!work_) {
      Work* w = WorkCache::take();
      work_.reset(w != nullptr ? w : new Work);
    }
    return *work_;
  }

  BackendRt* be_ = nullptr;
  const ServerSpec* srv_ = nullptr;
  size_t server_index_ = 0;
  tcp::endpoint peer_;  // the client's address, from accept(2)
  // Its text, made when needed (rules, forwardfor, logs): not kept by idle connections.
  std::string client_ip() const { return unix_ ? std::string("unix") : endpoint_ip(peer_); }
  uint16_t client_port_ = 0;
  uint16_t local_port_ = 0;
  TimePoint accepted_{}, started_{}, head_received_{};
  Duration t_connect_{}, t_response_{}, t_total_{};
  int status_ = 0;
  uint32_t retries_done_ = 0;
  uint64_t bytes_in_ = 0, bytes_out_ = 0;
  uint64_t requests_ = 0;       // requests of this client connection so far
  bool reused_ = false;         // the server connection came from the idle list
  bool splice_failed_ = false;  // splice() was refused once: copy
  bool linger_ = false;         // closing after our own answer: drain the client first
  SessionEnd end_ = SessionEnd::kNormal;
  TermPhase phase_ = TermPhase::kNone;

  // For the queue, the rules and the logs.
  IpAddr local_addr_;  // the address the client connected to
  std::chrono::system_clock::time_point accept_wall_;
  TimePoint prev_end_{};  // accept, or the end of the previous request
  std::shared_ptr<Waiter> waiter_;
  std::unique_ptr<asio::steady_timer> queue_timer_;
  MaybeTime queue_left_, connected_, response_at_;
  std::string_view server_name_;
};

// On the waiter's thread: the slot is its own now, unless it gave up meanwhile.
void grant(const std::shared_ptr<Waiter>& w, size_t bi, size_t si) {
  auto s = w->session.lock();
  if (!s || w->abandoned) {
    release_slot(*w->thread, bi, si);
    return;
  }
  w->granted = static_cast<int>(si);
  s->wake_from_queue();
}

void release_slot(ThreadRt& t, size_t bi, size_t si) {
  const BackendSpec& bs = t.shared.backends[bi];
  BackendQueue& q = *bs.waiting;
  if ((q.length.load(std::memory_order_acquire) > 0 ||
       q.server_length[si].load(std::memory_order_acquire) > 0) &&
      t.backends[bi].pool->usable(si)) {
    std::shared_ptr<Waiter> w;
    {
      // The older of the server's own head and the backend's head, as haproxy.
      std::lock_guard lock(q.mu);
      auto& mine = q.server_waiters[si];
      const bool take_mine =
          !mine.empty() && (q.waiters.empty() || mine.front()->seq < q.waiters.front()->seq);
      if (take_mine) {
        w = std::move(mine.front());
        mine.pop_front();
        q.server_length[si].fetch_sub(1, std::memory_order_acq_rel);
      } else if (!q.waiters.empty()) {
        w = std::move(q.waiters.front());
        q.waiters.pop_front();
        q.length.fetch_sub(1, std::memory_order_acq_rel);
      }
    }
    if (w) {
      // The slot goes over as it is: the count does not drop, so nobody overtakes.
      ThreadRt* wt = w->thread;
      asio::post(wt->worker.io(), [w = std::move(w), bi, si] { grant(w, bi, si); });
      return;
    }
  }
  bs.server_conns[si].fetch_sub(1, std::memory_order_acq_rel);
}

void start_session(ThreadRt& t, FrontendRt& fe, int fd, const tcp::endpoint& peer,
                   uint16_t unix_id) {
  if (unix_id == 0) set_nodelay(fd);
  // The session owns the descriptor from here, registered with the loop when first needed.
  auto s = std::make_shared<Session>(t, fe, fd, peer, unix_id);
  asio::co_spawn(t.worker.io(), Session::run(std::move(s)), asio::detached);
}

std::vector<Session*> sessions_of(const ThreadRt& t) {
  std::vector<Session*> all;
  for (Session* s = t.sessions; s != nullptr; s = s->next_in_thread()) all.push_back(s);
  return all;
}

void soft_stop_session(Session* s) {
  s->soft_stop();
}
void hard_stop_session(Session* s) {
  s->hard_stop();
}
bool session_uses_server(const Session* s, size_t bi, size_t si) {
  return s->uses_server(bi, si);
}

}  // namespace tandem::lb::proxy::detail
