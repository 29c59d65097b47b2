// Pool: the balancer and the server views of one backend, shared by the threads.
#include "lb/proxy/pool.h"

#include "lb/balance/balancer.h"

namespace tandem::lb::proxy::detail {

struct Pool::Impl {
  mutable std::mutex mu;  // guards everything below but the constants
  BalancerPtr balancer;
  std::vector<ServerView> views;
  std::vector<std::string> names;  // views hold string_views into these
  SplitMix64 random{1};
  bool hashes_header = false;
  std::string header_name;
  const std::atomic<uint32_t>* conns = nullptr;
  const std::atomic<uint32_t>* queued = nullptr;
};

Pool::Pool(const PoolSpec& spec, const std::vector<PoolServer>& servers, uint64_t seed,
           core::TimePoint now, const std::atomic<uint32_t>* conns,
           const std::atomic<uint32_t>* queued)
    : impl_(std::make_unique<Impl>()) {
  impl_->conns = conns;
  impl_->queued = queued;
  BalanceSpec b;
  b.algorithm = static_cast<Algorithm>(spec.algorithm);
  b.hash_method = spec.consistent ? HashMethod::kConsistent : HashMethod::kMapBased;
  b.hash_function = static_cast<HashFunction>(spec.hash_function);
  b.hash_avalanche = spec.avalanche;
  b.hdr_name = spec.hdr_name;
  b.hdr_use_domain_only = spec.hdr_use_domain_only;
  b.uri = {spec.uri_whole, spec.uri_len, spec.uri_depth, spec.uri_path_only};
  b.random_draws = spec.random_draws;
  b.all_backups = spec.all_backups;
  impl_->balancer = make_balancer(b);
  impl_->random = SplitMix64(seed);
  impl_->hashes_header = b.algorithm == Algorithm::kHdr;
  impl_->header_name = spec.hdr_name;
  impl_->names.reserve(servers.size());
  for (size_t i = 0; i < servers.size(); ++i) {
    impl_->names.push_back(servers[i].name);
    ServerView v;
    v.id = static_cast<uint32_t>(i + 1);
    v.name = impl_->names.back();
    v.weight = servers[i].weight;
    v.backup = servers[i].backup;
    v.maint = servers[i].disabled;
    v.maxconn = servers[i].maxconn;
    impl_->views.push_back(v);
  }
  impl_->balancer->rebuild(impl_->views, now);
}

Pool::~Pool() = default;

Pool::Pick Pool::pick(std::span<const uint8_t> source, std::string_view uri,
                      std::string_view header, std::optional<size_t> exclude, core::TimePoint now) {
  PickContext ctx;
  ctx.source = source;
  ctx.uri = uri;
  ctx.header = header;
  ctx.random = &impl_->random;
  if (exclude) ctx.exclude = static_cast<uint32_t>(*exclude + 1);
  std::lock_guard lock(impl_->mu);
  if (impl_->conns != nullptr) {
    for (size_t i = 0; i < impl_->views.size(); ++i)
      impl_->views[i].active_conns = impl_->conns[i].load(std::memory_order_relaxed);
  }
  if (impl_->queued != nullptr) {
    for (size_t i = 0; i < impl_->views.size(); ++i)
      impl_->views[i].queued = impl_->queued[i].load(std::memory_order_relaxed);
  }
  PickResult r = impl_->balancer->pick(ctx, impl_->views, now);
  switch (r.outcome) {
    case PickOutcome::kPicked:
      return {Outcome::kPicked, static_cast<size_t>(r.id - 1)};  // ids are index + 1
    case PickOutcome::kAllFull:
      return {Outcome::kAllFull, 0};
    case PickOutcome::kServerFull:
      return {Outcome::kServerFull, static_cast<size_t>(r.id - 1)};
    case PickOutcome::kNoServer:
      break;
  }
  return {Outcome::kNoServer, 0};
}

bool Pool::usable(size_t index) const {
  std::lock_guard lock(impl_->mu);
  return index < impl_->views.size() && is_usable(impl_->views[index]);
}
void Pool::set_up(size_t index, bool up, core::TimePoint now) {
  std::lock_guard lock(impl_->mu);
  if (index >= impl_->views.size() || impl_->views[index].up == up) return;
  impl_->views[index].up = up;
  impl_->views[index].up_since = now;
  impl_->balancer->rebuild(impl_->views, now);
}
void Pool::set_admin(size_t index, bool draining, bool maint, core::TimePoint now) {
  std::lock_guard lock(impl_->mu);
  if (index >= impl_->views.size()) return;
  ServerView& v = impl_->views[index];
  if (v.draining == draining && v.maint == maint) return;
  v.draining = draining;
  v.maint = maint;
  impl_->balancer->rebuild(impl_->views, now);
}
void Pool::set_weight(size_t index, uint32_t weight, core::TimePoint now) {
  std::lock_guard lock(impl_->mu);
  if (index >= impl_->views.size() || impl_->views[index].weight == weight) return;
  impl_->views[index].weight = weight;
  impl_->balancer->rebuild(impl_->views, now);
}
void Pool::set_maxconn(size_t index, uint32_t maxconn, core::TimePoint now) {
  std::lock_guard lock(impl_->mu);
  if (index >= impl_->views.size() || impl_->views[index].maxconn == maxconn) return;
  impl_->views[index].maxconn = maxconn;
  impl_->balancer->rebuild(impl_->views, now);
}
PoolServerState Pool::state(size_t index) const {
  std::lock_guard lock(impl_->mu);
  if (index >= impl_->views.size()) return {};
  const ServerView& v = impl_->views[index];
  return {v.up, v.draining, v.maint, v.weight, v.maxconn};
}
size_t Pool::size() const {
  return impl_->views.size();
}
bool Pool::hashes_header() const {
  return impl_->hashes_header;
}
const std::string& Pool::header_name() const {
  return impl_->header_name;
}

}  // namespace tandem::lb::proxy::detail
