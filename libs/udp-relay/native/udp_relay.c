/*
 * Batched UDP data plane of the TURN relay (Linux; Node-API, plus a libuv poll handle for the
 * control sockets: libuv's stable 1.x ABI, so one binary serves every Node >= 18).
 *
 * The relay owns the UDP sockets it opens (listeners and relayed sockets). One worker thread
 * waits on them with epoll, reads ready sockets with recvmmsg and forwards, without entering
 * JavaScript:
 *   - ChannelData from a client on a listener socket whose (listener, client address, channel)
 *     has a live route: the payload goes to the route's peer from its relayed socket;
 *   - a datagram from a peer on a relayed socket whose (relayed socket, peer address) has a live
 *     route: it goes to the route's client from the listener socket as ChannelData.
 * Outgoing datagrams of one round are grouped per socket and sent with sendmmsg. Everything else
 * is handed up to JavaScript in batches through a thread-safe function, as (socket id, source
 * address, source port, bytes); JavaScript answers with the synchronous send().
 *
 * Control sockets (see below) are read on the JavaScript thread, not by the worker.
 *
 * Routes carry a time to live: an expired route forwards nothing (its packets are handed up, and
 * JavaScript decides). One mutex guards sockets and routes; the worker holds it while it reads,
 * forwards and sends one round, JavaScript while it changes a table or sends.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#define RECV_BATCH 64
#define RECV_SLOTS 256
/* 4 bytes of headroom for the ChannelData header, then the largest UDP payload */
#define SLOT_HEAD 4
#define SLOT_DATA 65536
#define SLOT_SIZE (SLOT_HEAD + SLOT_DATA)
#define EPOLL_EVENTS 64
/* Bytes handed up and not yet taken by JavaScript, at most (beyond: dropped and counted). */
#define HANDUP_LIMIT (64u * 1024u * 1024u)

enum sock_kind { KIND_LISTENER = 0, KIND_RELAY = 1 };

typedef struct {
  uint8_t family; /* 4 or 6 */
  uint8_t addr[16];
  uint16_t port;
} endpoint_t;

typedef struct sock {
  int fd;
  int family;
  int kind;
  int used;
  uint32_t nroutes;   /* routes through this socket (as listener or relayed socket) */
  uint32_t next_free; /* the next unused entry's id while this one is unused, 0 at the end */
} sock_t;

typedef struct route {
  uint32_t id;
  /* client side */
  uint32_t listener;
  endpoint_t client;
  uint16_t channel;
  struct sockaddr_storage client_sa;
  socklen_t client_len;
  /* peer side */
  uint32_t relay;
  endpoint_t peer;
  struct sockaddr_storage peer_sa;
  socklen_t peer_len;
  int64_t deadline_ms; /* CLOCK_MONOTONIC */
  double pkts_up, bytes_up, pkts_down, bytes_down;
  struct route *next_up, *next_down;
} route_t;

typedef struct {
  uint32_t sid;
  endpoint_t src;
  uint32_t len;
  uint32_t off;
} handup_item_t;

typedef struct {
  handup_item_t *items;
  size_t count, cap;
  uint8_t *data;
  size_t used, data_cap;
} handup_batch_t;

typedef struct {
  int fd;
  uint32_t order;
  uint8_t *base;
  uint32_t len;
  struct sockaddr_storage *dst;
  socklen_t dst_len;
} out_t;

typedef struct relay {
  napi_threadsafe_function tsfn;
  napi_async_context async_ctx;
  napi_env env;
  pthread_t thread;
  int thread_started;
  pthread_mutex_t mu;
  int epfd;
  int wakefd;
  volatile int stopping;
  int closed;

  sock_t *socks;
  uint32_t nsocks, socks_cap;
  uint32_t free_sock; /* id of an unused entry of socks (a stack through next_free), 0 when none */

  route_t **routes; /* by id - 1 */
  uint32_t nroutes_cap;
  uint32_t *free_ids;
  uint32_t nfree;
  uint32_t next_id;
  uint32_t route_count;

  route_t **up_buckets;
  route_t **down_buckets;
  uint32_t nbuckets; /* power of two */

  /* worker buffers */
  uint8_t *slots;
  uint32_t slots_used;
  struct mmsghdr rmsgs[RECV_BATCH];
  struct iovec riov[RECV_BATCH];
  struct sockaddr_storage rsrc[RECV_BATCH];
  out_t outs[RECV_SLOTS];
  uint32_t nouts;
  struct mmsghdr smsgs[RECV_SLOTS];
  struct iovec siov[RECV_SLOTS];
  handup_batch_t *pending;

  /* handed up and not yet delivered (bytes); written by both threads */
  size_t handup_bytes;
  pthread_mutex_t handup_mu;

  /* totals */
  double fwd_up, fwd_down, handed_up, dropped_handup, send_errors;
} relay_t;

/* ------------------------------------------------------------------------- helpers */

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void endpoint_from_sa(endpoint_t *e, const struct sockaddr_storage *sa) {
  memset(e, 0, sizeof(*e));
  if (sa->ss_family == AF_INET) {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
    e->family = 4;
    memcpy(e->addr, &s4->sin_addr, 4);
    e->port = ntohs(s4->sin_port);
  } else if (sa->ss_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
    e->family = 6;
    memcpy(e->addr, &s6->sin6_addr, 16);
    e->port = ntohs(s6->sin6_port);
  }
}

/* Parses an IP literal and port into a socket address; 0 on success. */
static int parse_sa(const char *text, uint32_t port, struct sockaddr_storage *sa, socklen_t *len, endpoint_t *e) {
  memset(sa, 0, sizeof(*sa));
  if (port > 65535) return -1;
  struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;
  if (inet_pton(AF_INET, text, &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    *len = sizeof(*s4);
  } else if (inet_pton(AF_INET6, text, &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)port);
    *len = sizeof(*s6);
  } else
    return -1;
  if (e) endpoint_from_sa(e, sa);
  return 0;
}

static uint32_t hash_bytes(uint32_t h, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 16777619u;
  }
  return h;
}

static uint32_t hash_endpoint(uint32_t seed, const endpoint_t *e) {
  uint32_t h = 2166136261u ^ seed;
  h = hash_bytes(h, e->addr, e->family == 4 ? 4 : 16);
  h ^= e->port;
  h *= 16777619u;
  h ^= h >> 15;
  return h;
}

static uint32_t up_hash(uint32_t listener, const endpoint_t *client, uint16_t channel) {
  return hash_endpoint(listener * 2654435761u ^ ((uint32_t)channel << 16), client);
}

static uint32_t down_hash(uint32_t relay_sid, const endpoint_t *peer) { return hash_endpoint(relay_sid * 2246822519u, peer); }

static int endpoint_eq(const endpoint_t *a, const endpoint_t *b) {
  return a->family == b->family && a->port == b->port && memcmp(a->addr, b->addr, a->family == 4 ? 4 : 16) == 0;
}

static sock_t *sock_get(relay_t *r, uint32_t sid) {
  if (sid == 0 || sid > r->nsocks) return NULL;
  sock_t *s = &r->socks[sid - 1];
  return s->used ? s : NULL;
}

static route_t *find_up(relay_t *r, uint32_t listener, const endpoint_t *client, uint16_t channel) {
  route_t *x = r->up_buckets[up_hash(listener, client, channel) & (r->nbuckets - 1)];
  for (; x; x = x->next_up)
    if (x->listener == listener && x->channel == channel && endpoint_eq(&x->client, client)) return x;
  return NULL;
}

static route_t *find_down(relay_t *r, uint32_t relay_sid, const endpoint_t *peer) {
  route_t *x = r->down_buckets[down_hash(relay_sid, peer) & (r->nbuckets - 1)];
  for (; x; x = x->next_down)
    if (x->relay == relay_sid && endpoint_eq(&x->peer, peer)) return x;
  return NULL;
}

static void link_route(relay_t *r, route_t *x) {
  uint32_t u = up_hash(x->listener, &x->client, x->channel) & (r->nbuckets - 1);
  uint32_t d = down_hash(x->relay, &x->peer) & (r->nbuckets - 1);
  x->next_up = r->up_buckets[u];
  r->up_buckets[u] = x;
  x->next_down = r->down_buckets[d];
  r->down_buckets[d] = x;
}

static void unlink_route(relay_t *r, route_t *x) {
  route_t **p = &r->up_buckets[up_hash(x->listener, &x->client, x->channel) & (r->nbuckets - 1)];
  while (*p && *p != x) p = &(*p)->next_up;
  if (*p) *p = x->next_up;
  p = &r->down_buckets[down_hash(x->relay, &x->peer) & (r->nbuckets - 1)];
  while (*p && *p != x) p = &(*p)->next_down;
  if (*p) *p = x->next_down;
}

static int grow_buckets(relay_t *r) {
  uint32_t n = r->nbuckets * 2;
  route_t **up = calloc(n, sizeof(route_t *));
  route_t **down = calloc(n, sizeof(route_t *));
  if (!up || !down) {
    free(up);
    free(down);
    return -1;
  }
  free(r->up_buckets);
  free(r->down_buckets);
  r->up_buckets = up;
  r->down_buckets = down;
  r->nbuckets = n;
  for (uint32_t i = 0; i < r->nroutes_cap; i++)
    if (r->routes[i]) link_route(r, r->routes[i]);
  return 0;
}

/* Route ids: slot number (low 20 bits) and a generation, so that a stale id never names a newer route. */
#define ROUTE_SLOT_BITS 20
#define ROUTE_SLOT_MASK ((1u << ROUTE_SLOT_BITS) - 1)

static void remove_route(relay_t *r, route_t *x) {
  unlink_route(r, x);
  sock_t *ls = sock_get(r, x->listener), *rs = sock_get(r, x->relay);
  if (ls && ls->nroutes) ls->nroutes--;
  if (rs && rs->nroutes) rs->nroutes--;
  uint32_t slot = x->id & ROUTE_SLOT_MASK;
  r->routes[slot - 1] = NULL;
  r->free_ids[r->nfree++] = ((((x->id >> ROUTE_SLOT_BITS) + 1) & 0xfffu) << ROUTE_SLOT_BITS) | slot;
  r->route_count--;
  free(x);
}

/* ------------------------------------------------------------------------- worker */

static void handup(relay_t *r, uint32_t sid, const endpoint_t *src, const uint8_t *data, uint32_t len) {
  pthread_mutex_lock(&r->handup_mu);
  size_t queued = r->handup_bytes;
  pthread_mutex_unlock(&r->handup_mu);
  handup_batch_t *b = r->pending;
  if (queued + b->used + len > HANDUP_LIMIT) {
    r->dropped_handup++;
    return;
  }
  if (b->count == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 64;
    handup_item_t *items = realloc(b->items, cap * sizeof(*items));
    if (!items) {
      r->dropped_handup++;
      return;
    }
    b->items = items;
    b->cap = cap;
  }
  if (b->used + len > b->data_cap) {
    size_t cap = b->data_cap ? b->data_cap : 16384;
    while (cap < b->used + len) cap *= 2;
    uint8_t *d = realloc(b->data, cap);
    if (!d) {
      r->dropped_handup++;
      return;
    }
    b->data = d;
    b->data_cap = cap;
  }
  handup_item_t *it = &b->items[b->count++];
  it->sid = sid;
  it->src = *src;
  it->len = len;
  it->off = (uint32_t)b->used;
  memcpy(b->data + b->used, data, len);
  b->used += len;
  r->handed_up++;
}

static int cmp_out(const void *a, const void *b) {
  const out_t *x = a, *y = b;
  if (x->fd != y->fd) return x->fd < y->fd ? -1 : 1;
  return x->order < y->order ? -1 : (x->order > y->order);
}

/* Sends the round's outgoing datagrams, grouped per socket (called with the mutex held). */
static void flush_outs(relay_t *r) {
  uint32_t n = r->nouts;
  if (n > 1) qsort(r->outs, n, sizeof(out_t), cmp_out);
  uint32_t i = 0;
  while (i < n) {
    uint32_t j = i;
    int fd = r->outs[i].fd;
    while (j < n && r->outs[j].fd == fd) {
      out_t *o = &r->outs[j];
      uint32_t k = j - i;
      r->siov[k].iov_base = o->base;
      r->siov[k].iov_len = o->len;
      memset(&r->smsgs[k], 0, sizeof(struct mmsghdr));
      r->smsgs[k].msg_hdr.msg_iov = &r->siov[k];
      r->smsgs[k].msg_hdr.msg_iovlen = 1;
      r->smsgs[k].msg_hdr.msg_name = o->dst;
      r->smsgs[k].msg_hdr.msg_namelen = o->dst_len;
      j++;
    }
    uint32_t count = j - i, done = 0;
    while (done < count) {
      int s = sendmmsg(fd, &r->smsgs[done], count - done, MSG_DONTWAIT);
      if (s > 0) {
        done += (uint32_t)s;
        continue;
      }
      if (s < 0 && errno == EINTR) continue;
      if (s < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        r->send_errors += count - done; /* socket buffer full: the rest is dropped, as UDP would */
        break;
      }
      /* this datagram failed (e.g. unreachable destination): skip it, send the others */
      r->send_errors++;
      done++;
    }
    i = j;
  }
  r->nouts = 0;
  r->slots_used = 0;
}

static void queue_out(relay_t *r, int fd, uint8_t *base, uint32_t len, struct sockaddr_storage *dst, socklen_t dst_len) {
  out_t *o = &r->outs[r->nouts];
  o->fd = fd;
  o->order = r->nouts;
  o->base = base;
  o->len = len;
  o->dst = dst;
  o->dst_len = dst_len;
  r->nouts++;
}

/* One received datagram (slot holds it at SLOT_HEAD). Called with the mutex held. */
static void on_datagram(relay_t *r, uint32_t sid, sock_t *s, uint8_t *slot, uint32_t n, const struct sockaddr_storage *src_sa,
                        int64_t now) {
  endpoint_t src;
  endpoint_from_sa(&src, src_sa);
  uint8_t *msg = slot + SLOT_HEAD;
  if (src.family != 0) {
    if (s->kind == KIND_LISTENER) {
      if (n >= 4 && msg[0] >= 0x40 && msg[0] <= 0x7f) {
        uint16_t channel = (uint16_t)((msg[0] << 8) | msg[1]);
        uint32_t len = (uint32_t)((msg[2] << 8) | msg[3]);
        route_t *x = find_up(r, sid, &src, channel);
        if (x && x->deadline_ms > now && 4 + len <= n) {
          sock_t *out = sock_get(r, x->relay);
          if (out) {
            x->pkts_up++;
            x->bytes_up += len;
            r->fwd_up++;
            queue_out(r, out->fd, msg + 4, len, &x->peer_sa, x->peer_len);
            return;
          }
        }
      }
    } else {
      route_t *x = find_down(r, sid, &src);
      if (x && x->deadline_ms > now && n <= 0xffff) {
        sock_t *out = sock_get(r, x->listener);
        if (out) {
          x->pkts_down++;
          x->bytes_down += n;
          r->fwd_down++;
          slot[0] = (uint8_t)(x->channel >> 8);
          slot[1] = (uint8_t)(x->channel & 0xff);
          slot[2] = (uint8_t)(n >> 8);
          slot[3] = (uint8_t)(n & 0xff);
          queue_out(r, out->fd, slot, n + 4, &x->client_sa, x->client_len);
          return;
        }
      }
    }
  }
  handup(r, sid, &src, msg, n);
}

/* Sets up one recvmmsg entry: a datagram of up to len bytes into data, its source into src. */
static void recv_into(struct mmsghdr *m, struct iovec *iov, uint8_t *data, size_t len, struct sockaddr_storage *src) {
  iov->iov_base = data;
  iov->iov_len = len;
  memset(m, 0, sizeof(*m));
  m->msg_hdr.msg_iov = iov;
  m->msg_hdr.msg_iovlen = 1;
  m->msg_hdr.msg_name = src;
  m->msg_hdr.msg_namelen = sizeof(*src);
}

static void read_socket(relay_t *r, uint32_t sid, int64_t now) {
  /* a few batches per socket and round, so one busy socket does not starve the others */
  for (int round = 0; round < 4; round++) {
    sock_t *s = sock_get(r, sid);
    if (!s) return;
    if (RECV_SLOTS - r->slots_used < RECV_BATCH) flush_outs(r);
    uint32_t want = RECV_BATCH;
    for (uint32_t i = 0; i < want; i++)
      recv_into(&r->rmsgs[i], &r->riov[i], r->slots + (size_t)(r->slots_used + i) * SLOT_SIZE + SLOT_HEAD, SLOT_DATA, &r->rsrc[i]);
    int k = recvmmsg(s->fd, r->rmsgs, want, MSG_DONTWAIT, NULL);
    if (k <= 0) return;
    uint32_t base = r->slots_used;
    /* every datagram of the batch keeps its slot until the flush (forwarded ones are sent from it) */
    r->slots_used = base + (uint32_t)k;
    for (int i = 0; i < k; i++) {
      if (r->rmsgs[i].msg_hdr.msg_flags & MSG_TRUNC) continue;
      uint8_t *slot = r->slots + (size_t)(base + (uint32_t)i) * SLOT_SIZE;
      on_datagram(r, sid, s, slot, r->rmsgs[i].msg_len, &r->rsrc[i], now);
    }
    if ((uint32_t)k < want) return;
  }
}

static void publish(relay_t *r) {
  handup_batch_t *b = r->pending;
  if (b->count == 0) return;
  handup_batch_t *fresh = calloc(1, sizeof(handup_batch_t));
  if (!fresh) {
    /* keep the batch for the next round */
    return;
  }
  pthread_mutex_lock(&r->handup_mu);
  r->handup_bytes += b->used;
  pthread_mutex_unlock(&r->handup_mu);
  if (napi_call_threadsafe_function(r->tsfn, b, napi_tsfn_nonblocking) != napi_ok) {
    pthread_mutex_lock(&r->handup_mu);
    r->handup_bytes -= b->used;
    pthread_mutex_unlock(&r->handup_mu);
    b->count = 0;
    b->used = 0;
    free(fresh);
    return;
  }
  r->pending = fresh;
}

static void *worker(void *arg) {
  relay_t *r = arg;
  struct epoll_event evs[EPOLL_EVENTS];
  while (!r->stopping) {
    int n = epoll_wait(r->epfd, evs, EPOLL_EVENTS, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (r->stopping) break;
    pthread_mutex_lock(&r->mu);
    int64_t now = now_ms();
    for (int i = 0; i < n; i++) {
      uint32_t sid = evs[i].data.u32;
      if (sid == 0) {
        uint64_t v;
        ssize_t ignored = read(r->wakefd, &v, sizeof(v));
        (void)ignored;
        continue;
      }
      read_socket(r, sid, now);
    }
    flush_outs(r);
    pthread_mutex_unlock(&r->mu);
    publish(r);
  }
  return NULL;
}

/* ------------------------------------------------------------------------- JavaScript side */

static void free_batch(handup_batch_t *b) {
  if (!b) return;
  free(b->items);
  free(b->data);
  free(b);
}

/* Calls cb as a callback from the event loop; what it throws becomes an uncaught exception. */
static void callback(napi_env env, napi_async_context ctx, napi_value recv, napi_value cb, size_t argc, const napi_value *argv) {
  if (napi_make_callback(env, ctx, recv, cb, argc, argv, NULL) == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
}

static void call_js(napi_env env, napi_value cb, void *context, void *data) {
  relay_t *r = context;
  handup_batch_t *b = data;
  if (env == NULL || cb == NULL) {
    free_batch(b);
    return;
  }
  pthread_mutex_lock(&r->handup_mu);
  r->handup_bytes -= b->used;
  pthread_mutex_unlock(&r->handup_mu);
  napi_value recv;
  napi_get_global(env, &recv);
  for (size_t i = 0; i < b->count; i++) {
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) break;
    handup_item_t *it = &b->items[i];
    char text[INET6_ADDRSTRLEN] = "";
    if (it->src.family == 4)
      inet_ntop(AF_INET, it->src.addr, text, sizeof(text));
    else if (it->src.family == 6)
      inet_ntop(AF_INET6, it->src.addr, text, sizeof(text));
    napi_value argv[4];
    void *copy;
    napi_create_uint32(env, it->sid, &argv[0]);
    napi_create_string_latin1(env, text, NAPI_AUTO_LENGTH, &argv[1]);
    napi_create_uint32(env, it->src.port, &argv[2]);
    napi_create_buffer_copy(env, it->len, b->data + it->off, &copy, &argv[3]);
    /* as a callback from the event loop (like a dgram 'message'): process.nextTick and promise
       jobs it queues run before the next datagram, so a request's answer precedes what follows it */
    callback(env, r->async_ctx, recv, cb, 4, argv);
    napi_close_handle_scope(env, scope);
  }
  free_batch(b);
}

static void stop_relay(relay_t *r) {
  if (r->closed) return;
  r->closed = 1;
  r->stopping = 1;
  uint64_t one = 1;
  ssize_t ignored = write(r->wakefd, &one, sizeof(one));
  (void)ignored;
  if (r->thread_started) pthread_join(r->thread, NULL);
  r->thread_started = 0;
  for (uint32_t i = 0; i < r->nsocks; i++)
    if (r->socks[i].used) {
      close(r->socks[i].fd);
      r->socks[i].used = 0;
    }
  for (uint32_t i = 0; i < r->nroutes_cap; i++) {
    free(r->routes[i]);
    r->routes[i] = NULL;
  }
  r->route_count = 0;
  close(r->epfd);
  close(r->wakefd);
  free_batch(r->pending);
  r->pending = NULL;
  free(r->slots);
  r->slots = NULL;
  napi_release_threadsafe_function(r->tsfn, napi_tsfn_abort);
}

static void cleanup_hook(void *arg) { stop_relay(arg); }

static void finalize_relay(napi_env env, void *data, void *hint) {
  (void)hint;
  relay_t *r = data;
  if (!r->closed) {
    stop_relay(r);
  }
  napi_remove_env_cleanup_hook(env, cleanup_hook, r);
  napi_async_destroy(env, r->async_ctx);
  free(r->socks);
  free(r->routes);
  free(r->free_ids);
  free(r->up_buckets);
  free(r->down_buckets);
  pthread_mutex_destroy(&r->mu);
  pthread_mutex_destroy(&r->handup_mu);
  free(r);
}

static napi_value throw_error(napi_env env, const char *code, const char *msg) {
  napi_throw_error(env, code, msg);
  return NULL;
}

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  const char *name = NULL;
  switch (err) {
    case EADDRINUSE: name = "EADDRINUSE"; break;
    case EADDRNOTAVAIL: name = "EADDRNOTAVAIL"; break;
    case EACCES: name = "EACCES"; break;
    case EAFNOSUPPORT: name = "EAFNOSUPPORT"; break;
    case EINVAL: name = "EINVAL"; break;
    case EMFILE: name = "EMFILE"; break;
    case ENFILE: name = "ENFILE"; break;
    case ENOBUFS: name = "ENOBUFS"; break;
    case ENOMEM: name = "ENOMEM"; break;
    case EPERM: name = "EPERM"; break;
    default: name = "EIO"; break;
  }
  snprintf(msg, sizeof(msg), "%s: %s", what, strerror(err));
  napi_throw_error(env, name, msg);
  return NULL;
}

#define ARGS(n)                                                               \
  size_t argc = n;                                                            \
  napi_value argv[n];                                                         \
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL; \
  if (argc < n) return throw_error(env, "EINVAL", "missing arguments")

static relay_t *get_relay(napi_env env, napi_value v) {
  relay_t *r = NULL;
  if (napi_get_value_external(env, v, (void **)&r) != napi_ok || r == NULL) {
    napi_throw_type_error(env, "EINVAL", "not a relay handle");
    return NULL;
  }
  if (r->closed) {
    napi_throw_error(env, "ERR_CLOSED", "the relay is closed");
    return NULL;
  }
  return r;
}

static int get_u32(napi_env env, napi_value v, uint32_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0) || d > 4294967295.0 || d != (double)(uint32_t)d) {
    napi_throw_type_error(env, "EINVAL", "expected an unsigned 32-bit integer");
    return -1;
  }
  *out = (uint32_t)d;
  return 0;
}

static int get_str(napi_env env, napi_value v, char *buf, size_t cap) {
  size_t n;
  if (napi_get_value_string_utf8(env, v, buf, cap, &n) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "expected a string");
    return -1;
  }
  return 0;
}

/* create(onPacket(socketId, address, port, bytes)) -> handle */
static napi_value js_create(napi_env env, napi_callback_info info) {
  ARGS(1);
  relay_t *r = calloc(1, sizeof(relay_t));
  if (!r) return throw_error(env, "ENOMEM", "out of memory");
  r->env = env;
  pthread_mutex_init(&r->mu, NULL);
  pthread_mutex_init(&r->handup_mu, NULL);
  r->nbuckets = 1024;
  r->up_buckets = calloc(r->nbuckets, sizeof(route_t *));
  r->down_buckets = calloc(r->nbuckets, sizeof(route_t *));
  r->slots = malloc((size_t)RECV_SLOTS * SLOT_SIZE);
  r->pending = calloc(1, sizeof(handup_batch_t));
  r->epfd = epoll_create1(EPOLL_CLOEXEC);
  r->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (!r->up_buckets || !r->down_buckets || !r->slots || !r->pending || r->epfd < 0 || r->wakefd < 0) {
    int err = errno;
    if (r->epfd >= 0) close(r->epfd);
    if (r->wakefd >= 0) close(r->wakefd);
    free(r->up_buckets);
    free(r->down_buckets);
    free(r->slots);
    free(r->pending);
    free(r);
    return throw_errno(env, "udp relay", err ? err : ENOMEM);
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 0};
  epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->wakefd, &ev);
  napi_value name;
  napi_create_string_utf8(env, "udp-relay", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &r->async_ctx);
  if (napi_create_threadsafe_function(env, argv[0], NULL, name, 0, 1, NULL, NULL, r, call_js, &r->tsfn) != napi_ok) {
    close(r->epfd);
    close(r->wakefd);
    free(r->up_buckets);
    free(r->down_buckets);
    free(r->slots);
    free(r->pending);
    free(r);
    return throw_error(env, "EINVAL", "could not create the hand-up function (is the callback a function?)");
  }
  if (pthread_create(&r->thread, NULL, worker, r) != 0) {
    napi_release_threadsafe_function(r->tsfn, napi_tsfn_abort);
    close(r->epfd);
    close(r->wakefd);
    free(r->up_buckets);
    free(r->down_buckets);
    free(r->slots);
    free(r->pending);
    free(r);
    return throw_error(env, "EAGAIN", "could not start the relay thread");
  }
  r->thread_started = 1;
  napi_add_env_cleanup_hook(env, cleanup_hook, r);
  napi_value handle;
  napi_create_external(env, r, finalize_relay, NULL, &handle);
  return handle;
}

#ifndef SO_ATTACH_REUSEPORT_CBPF
#define SO_ATTACH_REUSEPORT_CBPF 51
#endif

/*
 * Steering of a listener's SO_REUSEPORT group of two sockets, a control socket bound first
 * (index 0, read by JavaScript) and this one (index 1): the kernel runs this on each datagram's
 * UDP payload and hands TURN ChannelData (first byte 0x40-0x7F) to this socket, everything else
 * (STUN requests and indications) to the control socket, so control traffic never crosses threads.
 */
static int attach_steering(int fd) {
  struct sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0),
      BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xc0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x40, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, 1),
      BPF_STMT(BPF_RET | BPF_K, 0),
  };
  struct sock_fprog prog = {.len = sizeof(code) / sizeof(code[0]), .filter = code};
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog));
}

/*
 * A non-blocking UDP socket bound to text:port (IPv6 sockets IPv6 only), with SO_RCVBUF and
 * SO_SNDBUF of bufsize when not 0 (the OS may cap the size: it keeps what it grants), SO_REUSEPORT
 * when reuse, and with steer the steering of its SO_REUSEPORT group (see attach_steering). Returns
 * the fd with its family (AF_INET or AF_INET6) and bound port, or -1 with a JavaScript error thrown.
 */
static int open_udp(napi_env env, const char *text, uint32_t port, uint32_t bufsize, int reuse, int steer, int *family_out,
                    uint32_t *bound_port) {
  struct sockaddr_storage sa;
  socklen_t salen;
  if (parse_sa(text, port, &sa, &salen, NULL) != 0) {
    throw_error(env, "EINVAL", "bad address or port");
    return -1;
  }
  int family = sa.ss_family;
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw_errno(env, "socket", errno);
    return -1;
  }
  int on = 1;
  if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
  if (bufsize > 0) {
    int v = (int)(bufsize > 0x7fffffff ? 0x7fffffff : bufsize);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
  }
  const char *failed = NULL;
  if (reuse && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0)
    failed = "SO_REUSEPORT";
  else if (bind(fd, (struct sockaddr *)&sa, salen) != 0)
    failed = "bind";
  else if (steer && attach_steering(fd) != 0)
    failed = "SO_ATTACH_REUSEPORT_CBPF";
  if (failed) {
    int err = errno;
    close(fd);
    throw_errno(env, failed, err);
    return -1;
  }
  *bound_port = port;
  if (port == 0) {
    struct sockaddr_storage bound;
    socklen_t blen = sizeof(bound);
    endpoint_t be;
    getsockname(fd, (struct sockaddr *)&bound, &blen);
    endpoint_from_sa(&be, &bound);
    *bound_port = be.port;
  }
  *family_out = family;
  return fd;
}

/* [first, port]: what open and controlOpen return */
static napi_value with_port(napi_env env, napi_value first, uint32_t port) {
  napi_value out, p;
  napi_create_array_with_length(env, 2, &out);
  napi_create_uint32(env, port, &p);
  napi_set_element(env, out, 0, first);
  napi_set_element(env, out, 1, p);
  return out;
}

/*
 * open(handle, address, port, kind (0 listener, 1 relay, 2 listener that joins the SO_REUSEPORT
 * group of a control socket already bound to address:port, taking its ChannelData), bufferBytes)
 * -> [socketId, port]
 */
static napi_value js_open(napi_env env, napi_callback_info info) {
  ARGS(5);
  relay_t *r = get_relay(env, argv[0]);
  if (!r) return NULL;
  char text[64];
  uint32_t port, kind, bufsize;
  if (get_str(env, argv[1], text, sizeof(text)) || get_u32(env, argv[2], &port) || get_u32(env, argv[3], &kind) ||
      get_u32(env, argv[4], &bufsize))
    return NULL;
  if (kind > 2) return throw_error(env, "EINVAL", "bad kind");
  int steered = kind == 2;
  if (steered) kind = KIND_LISTENER;
  int family;
  uint32_t bound_port;
  int fd = open_udp(env, text, port, bufsize, steered, steered, &family, &bound_port);
  if (fd < 0) return NULL;

  pthread_mutex_lock(&r->mu);
  uint32_t sid = r->free_sock;
  if (sid != 0)
    r->free_sock = r->socks[sid - 1].next_free;
  else {
    if (r->nsocks == r->socks_cap) {
      uint32_t cap = r->socks_cap ? r->socks_cap * 2 : 64;
      sock_t *s = realloc(r->socks, cap * sizeof(sock_t));
      if (!s) {
        pthread_mutex_unlock(&r->mu);
        close(fd);
        return throw_error(env, "ENOMEM", "out of memory");
      }
      r->socks = s;
      r->socks_cap = cap;
    }
    sid = ++r->nsocks;
  }
  sock_t *s = &r->socks[sid - 1];
  s->fd = fd;
  s->family = family == AF_INET6 ? 6 : 4;
  s->kind = (int)kind;
  s->used = 1;
  s->nroutes = 0;
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = sid};
  int rc = epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev);
  int err = errno;
  if (rc != 0) {
    s->used = 0;
    s->next_free = r->free_sock;
    r->free_sock = sid;
    close(fd);
  }
  pthread_mutex_unlock(&r->mu);
  if (rc != 0) return throw_errno(env, "epoll", err);
  napi_value id;
  napi_create_uint32(env, sid, &id);
  return with_port(env, id, bound_port);
}

/* closeSocket(handle, socketId): also drops the routes through it */
static napi_value js_close_socket(napi_env env, napi_callback_info info) {
  ARGS(2);
  relay_t *r = get_relay(env, argv[0]);
  if (!r) return NULL;
  uint32_t sid;
  if (get_u32(env, argv[1], &sid)) return NULL;
  pthread_mutex_lock(&r->mu);
  sock_t *s = sock_get(r, sid);
  napi_value res;
  if (s) {
    for (uint32_t i = 0; s->nroutes > 0 && i < r->nroutes_cap; i++) {
      route_t *x = r->routes[i];
      if (x && (x->listener == sid || x->relay == sid)) remove_route(r, x);
    }
    epoll_ctl(r->epfd, EPOLL_CTL_DEL, s->fd, NULL);
    close(s->fd);
    s->used = 0;
    s->fd = -1;
    s->next_free = r->free_sock;
    r->free_sock = sid;
  }
  pthread_mutex_unlock(&r->mu);
  napi_get_boolean(env, s != NULL, &res);
  return res;
}

/* send(handle, socketId, bytes, address, port) -> true when the OS took it */
static napi_value js_send(napi_env env, napi_callback_info info) {
  ARGS(5);
  relay_t *r = get_relay(env, argv[0]);
  if (!r) return NULL;
  uint32_t sid, port;
  char text[64];
  void *data;
  size_t len;
  if (get_u32(env, argv[1], &sid)) return NULL;
  if (napi_get_buffer_info(env, argv[2], &data, &len) != napi_ok) {
    bool is_ta = false;
    napi_is_typedarray(env, argv[2], &is_ta);
    if (!is_ta) return throw_error(env, "EINVAL", "expected a Buffer");
    napi_typedarray_type t;
    size_t n;
    napi_value ab;
    size_t off;
    napi_get_typedarray_info(env, argv[2], &t, &n, &data, &ab, &off);
    len = n;
  }
  if (get_str(env, argv[3], text, sizeof(text)) || get_u32(env, argv[4], &port)) return NULL;
  struct sockaddr_storage sa;
  socklen_t salen;
  if (parse_sa(text, port, &sa, &salen, NULL) != 0) return throw_error(env, "EINVAL", "bad destination address or port");
  pthread_mutex_lock(&r->mu);
  sock_t *s = sock_get(r, sid);
  ssize_t n = -1;
  int err = EBADF;
  if (s) {
    if ((s->family == 6) != (sa.ss_family == AF_INET6))
      err = EAFNOSUPPORT;
    else {
      do n = sendto(s->fd, data, len, MSG_DONTWAIT, (struct sockaddr *)&sa, salen);
      while (n < 0 && errno == EINTR);
      err = errno;
    }
  }
  if (n < 0) r->send_errors++;
  pthread_mutex_unlock(&r->mu);
  napi_value res;
  napi_get_boolean(env, n >= 0, &res);
  (void)err;
  return res;
}

/* setRoute(handle, listenerId, clientAddress, clientPort, channel, relayId, peerAddress, peerPort, ttlMs) -> routeId */
static napi_value js_set_route(napi_env env, napi_callback_info info) {
  ARGS(9);
  relay_t *r = get_relay(env, argv[0]);
  if (!r) return NULL;
  uint32_t listener, cport, channel, relay_sid, pport, ttl;
  char caddr[64], paddr[64];
  if (get_u32(env, argv[1], &listener) || get_str(env, argv[2], caddr, sizeof(caddr)) || get_u32(env, argv[3], &cport) ||
      get_u32(env, argv[4], &channel) || get_u32(env, argv[5], &relay_sid) || get_str(env, argv[6], paddr, sizeof(paddr)) ||
      get_u32(env, argv[7], &pport) || get_u32(env, argv[8], &ttl))
    return NULL;
  if (channel < 0x4000 || channel > 0x7ffe) return throw_error(env, "EINVAL", "channel number out of range");
  route_t *x = calloc(1, sizeof(route_t));
  if (!x) return throw_error(env, "ENOMEM", "out of memory");
  if (parse_sa(caddr, cport, &x->client_sa, &x->client_len, &x->client) != 0 ||
      parse_sa(paddr, pport, &x->peer_sa, &x->peer_len, &x->peer) != 0) {
    free(x);
    return throw_error(env, "EINVAL", "bad client or peer address or port");
  }
  x->listener = listener;
  x->relay = relay_sid;
  x->channel = (uint16_t)channel;
  pthread_mutex_lock(&r->mu);
  sock_t *ls = sock_get(r, listener), *rs = sock_get(r, relay_sid);
  const char *bad = NULL;
  if (!ls || ls->kind != KIND_LISTENER)
    bad = "no such listener socket";
  else if (!rs || rs->kind != KIND_RELAY)
    bad = "no such relayed socket";
  else if (ls->family != x->client.family || rs->family != x->peer.family)
    bad = "address family does not match the socket";
  if (bad) {
    pthread_mutex_unlock(&r->mu);
    free(x);
    return throw_error(env, "EINVAL", bad);
  }
  /* one route per client channel and per peer: a new one replaces them */
  route_t *old;
  while ((old = find_up(r, listener, &x->client, x->channel)) != NULL) remove_route(r, old);
  while ((old = find_down(r, relay_sid, &x->peer)) != NULL) remove_route(r, old);
  if (r->nfree == 0) {
    if (r->next_id >= ROUTE_SLOT_MASK) {
      pthread_mutex_unlock(&r->mu);
      free(x);
      return throw_error(env, "ENOBUFS", "too many routes");
    }
    if (r->next_id == r->nroutes_cap) {
      uint32_t cap = r->nroutes_cap ? r->nroutes_cap * 2 : 256;
      route_t **routes = realloc(r->routes, cap * sizeof(route_t *));
      uint32_t *ids = routes ? realloc(r->free_ids, cap * sizeof(uint32_t)) : NULL;
      if (routes) r->routes = routes;
      if (ids) r->free_ids = ids;
      if (!routes || !ids) {
        pthread_mutex_unlock(&r->mu);
        free(x);
        return throw_error(env, "ENOMEM", "out of memory");
      }
      for (uint32_t i = r->nroutes_cap; i < cap; i++) r->routes[i] = NULL;
      r->nroutes_cap = cap;
    }
    x->id = ++r->next_id;
  } else
    x->id = r->free_ids[--r->nfree];
  x->deadline_ms = now_ms() + ttl;
  r->routes[(x->id & ROUTE_SLOT_MASK) - 1] = x;
  r->route_count++;
  ls->nroutes++;
  rs->nroutes++;
  if (r->route_count > r->nbuckets) grow_buckets(r);
  link_route(r, x);
  uint32_t id = x->id;
  pthread_mutex_unlock(&r->mu);
  napi_value res;
  napi_create_uint32(env, id, &res);
  return res;
}

static route_t *route_get(relay_t *r, uint32_t id) {
  uint32_t slot = id & ROUTE_SLOT_MASK;
  if (slot == 0 || slot > r->nroutes_cap) return NULL;
  route_t *x = r->routes[slot - 1];
  return x && x->id == id ? x : NULL;
}

static napi_value stats_array(napi_env env, const double *v, int n) {
  napi_value out, x;
  napi_create_array_with_length(env, n, &out);
  for (int i = 0; i < n; i++) {
    napi_create_double(env, v[i], &x);
    napi_set_element(env, out, i, x);
  }
  return out;
}

/* setRouteTtl(handle, routeId, ttlMs) -> false when there is no such route */
static napi_value js_set_route_ttl(napi_env env, napi_callback_info info) {
  ARGS(3);
  relay_t *r = get_relay(env, argv[0]);
  if (!r) return NULL;
  uint32_t id, ttl;
  if (get_u32(env, argv[1], &id) || get_u32(env, argv[2], &ttl)) return NULL;
  pthread_mutex_lock(&r->mu);
  route_t *x = route_get(r, id);
  if (x) x->deadline_ms = now_ms() + ttl;
  pthread_mutex_unlock(&r->mu);
  napi_value res;
  napi_get_boolean(env, x != NULL, &res);
  return res;
}

/* routeStats(handle, routeId, remove) -> [packetsUp, bytesUp, packetsDown, bytesDown] or undefined */
static napi_value js_route_stats(napi_env env, napi_callback_info info) {
  ARGS(3);
  relay_t *r = get_relay(env, argv[0]);
  if (!r) return NULL;
  uint32_t id;
  bool remove = false;
  if (get_u32(env, argv[1], &id)) return NULL;
  napi_get_value_bool(env, argv[2], &remove);
  pthread_mutex_lock(&r->mu);
  route_t *x = route_get(r, id);
  double v[4] = {0, 0, 0, 0};
  if (x) {
    v[0] = x->pkts_up;
    v[1] = x->bytes_up;
    v[2] = x->pkts_down;
    v[3] = x->bytes_down;
    if (remove) remove_route(r, x);
  }
  pthread_mutex_unlock(&r->mu);
  if (!x) {
    napi_value u;
    napi_get_undefined(env, &u);
    return u;
  }
  return stats_array(env, v, 4);
}

/* stats(handle) -> [forwardedToPeers, forwardedToClients, handedUp, droppedHandUp, sendErrors, routes, sockets] */
static napi_value js_stats(napi_env env, napi_callback_info info) {
  ARGS(1);
  relay_t *r = get_relay(env, argv[0]);
  if (!r) return NULL;
  pthread_mutex_lock(&r->mu);
  uint32_t socks = 0;
  for (uint32_t i = 0; i < r->nsocks; i++) socks += r->socks[i].used;
  double v[7] = {r->fwd_up, r->fwd_down, r->handed_up, r->dropped_handup, r->send_errors, r->route_count, socks};
  pthread_mutex_unlock(&r->mu);
  return stats_array(env, v, 7);
}

/* close(handle): stops the thread, closes every socket, drops every route */
static napi_value js_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  relay_t *r = NULL;
  if (napi_get_value_external(env, argv[0], (void **)&r) != napi_ok || r == NULL)
    return throw_error(env, "EINVAL", "not a relay handle");
  stop_relay(r);
  return NULL;
}

/* ------------------------------------------------------------------------- control sockets */

/*
 * A control socket: a UDP socket read on the JavaScript thread itself (a libuv poll handle on the
 * event loop, no thread hop) for request/answer traffic such as a TURN listener's STUN. Each time
 * it turns readable, recvmmsg takes up to CTRL_BATCH datagrams into one buffer kept for the
 * socket's life; each datagram is then copied into an arena, a JavaScript Buffer of CTRL_ARENA
 * bytes shared by consecutive datagrams (a new one when it is full), and goes to the callback as
 * (arena, offset, length, address, port), one callback from the event loop per datagram (as a dgram
 * 'message': process.nextTick and promise jobs it queues run before the next datagram). A
 * datagram's bytes are never overwritten: what keeps a view of them keeps its arena. send() is a
 * plain sendto from the same socket.
 */
#define CTRL_BATCH 32
#define CTRL_SLOT 65536
#define CTRL_ARENA 65536

typedef struct ctrl {
  uv_poll_t poll;
  napi_env env;
  napi_ref cb;
  napi_ref self; /* keeps the handle object alive while the socket is open */
  napi_async_context async_ctx;
  int fd;
  int family;
  int closed;
  int poll_closed; /* the poll handle's close callback ran (or it was never initialised) */
  int finalized;   /* the handle object was collected */
  uint8_t *buf;
  napi_ref arena; /* the arena Buffer being filled, or NULL */
  uint8_t *arena_data;
  size_t arena_cap, arena_used;
  struct mmsghdr msgs[CTRL_BATCH];
  struct iovec iov[CTRL_BATCH];
  struct sockaddr_storage src[CTRL_BATCH];
} ctrl_t;

static void ctrl_free_if_done(ctrl_t *c) {
  if (!c->poll_closed || !c->finalized) return;
  free(c->buf);
  free(c);
}

static void ctrl_on_poll_closed(uv_handle_t *h) {
  ctrl_t *c = h->data;
  c->poll_closed = 1;
  ctrl_free_if_done(c);
}

/* Stops reading and closes the socket (the memory goes once the poll handle is closed and the handle object collected). */
static void ctrl_close(ctrl_t *c) {
  if (c->closed) return;
  c->closed = 1;
  uv_poll_stop(&c->poll);
  uv_close((uv_handle_t *)&c->poll, ctrl_on_poll_closed);
  close(c->fd);
  c->fd = -1;
}

static void ctrl_cleanup_hook(void *arg) { ctrl_close(arg); }

static void ctrl_deliver(ctrl_t *c, int k) {
  napi_env env = c->env;
  napi_handle_scope outer;
  if (napi_open_handle_scope(env, &outer) != napi_ok) return;
  napi_value cb, recv;
  napi_get_reference_value(env, c->cb, &cb);
  napi_get_global(env, &recv);
  for (int i = 0; i < k && !c->closed; i++) {
    if (c->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) continue;
    endpoint_t src;
    endpoint_from_sa(&src, &c->src[i]);
    if (src.family == 0) continue;
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) break;
    char text[INET6_ADDRSTRLEN] = "";
    inet_ntop(src.family == 4 ? AF_INET : AF_INET6, src.addr, text, sizeof(text));
    size_t len = c->msgs[i].msg_len;
    napi_value argv[5];
    if (c->arena == NULL || c->arena_used + len > c->arena_cap) {
      size_t cap = len > CTRL_ARENA ? len : CTRL_ARENA;
      void *data;
      if (c->arena != NULL) napi_delete_reference(env, c->arena);
      c->arena = NULL;
      if (napi_create_buffer(env, cap, &data, &argv[0]) != napi_ok || napi_create_reference(env, argv[0], 1, &c->arena) != napi_ok) {
        c->arena = NULL;
        napi_close_handle_scope(env, scope);
        break;
      }
      c->arena_data = data;
      c->arena_cap = cap;
      c->arena_used = 0;
    } else
      napi_get_reference_value(env, c->arena, &argv[0]);
    size_t at = c->arena_used;
    memcpy(c->arena_data + at, c->buf + (size_t)i * CTRL_SLOT, len);
    c->arena_used = (at + len + 7) & ~(size_t)7;
    napi_create_uint32(env, (uint32_t)at, &argv[1]);
    napi_create_uint32(env, (uint32_t)len, &argv[2]);
    napi_create_string_latin1(env, text, NAPI_AUTO_LENGTH, &argv[3]);
    napi_create_uint32(env, src.port, &argv[4]);
    callback(env, c->async_ctx, recv, cb, 5, argv);
    napi_close_handle_scope(env, scope);
  }
  napi_close_handle_scope(env, outer);
}

static void ctrl_on_poll(uv_poll_t *h, int status, int events) {
  ctrl_t *c = h->data;
  if (status < 0 || c->closed) return;
  /* a few batches per wake-up, so that a busy control socket does not starve the rest of the loop */
  for (int round = 0; round < 4 && !c->closed; round++) {
    for (int i = 0; i < CTRL_BATCH; i++) recv_into(&c->msgs[i], &c->iov[i], c->buf + (size_t)i * CTRL_SLOT, CTRL_SLOT, &c->src[i]);
    int k = recvmmsg(c->fd, c->msgs, CTRL_BATCH, MSG_DONTWAIT, NULL);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return;
    ctrl_deliver(c, k);
    if (k < CTRL_BATCH) return;
  }
}

static void ctrl_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  ctrl_t *c = data;
  ctrl_close(c);
  napi_remove_env_cleanup_hook(env, ctrl_cleanup_hook, c);
  napi_async_destroy(env, c->async_ctx);
  napi_delete_reference(env, c->cb);
  if (c->arena != NULL) napi_delete_reference(env, c->arena);
  c->arena = NULL;
  c->finalized = 1;
  ctrl_free_if_done(c);
}

static ctrl_t *get_ctrl(napi_env env, napi_value v) {
  ctrl_t *c = NULL;
  if (napi_get_value_external(env, v, (void **)&c) != napi_ok || c == NULL) {
    napi_throw_type_error(env, "EINVAL", "not a control socket handle");
    return NULL;
  }
  return c;
}

/* controlOpen(address, port, bufferBytes, reusePort, onMessage(arena, offset, length, address, port)) -> [handle, port] */
static napi_value js_control_open(napi_env env, napi_callback_info info) {
  ARGS(5);
  char text[64];
  uint32_t port, bufsize;
  bool reuse = false;
  if (get_str(env, argv[0], text, sizeof(text)) || get_u32(env, argv[1], &port) || get_u32(env, argv[2], &bufsize)) return NULL;
  napi_get_value_bool(env, argv[3], &reuse);
  napi_valuetype t;
  napi_typeof(env, argv[4], &t);
  if (t != napi_function) return throw_error(env, "EINVAL", "onMessage must be a function");
  int family;
  uint32_t bound_port;
  int fd = open_udp(env, text, port, bufsize, reuse, 0, &family, &bound_port);
  if (fd < 0) return NULL;
  ctrl_t *c = calloc(1, sizeof(ctrl_t));
  uint8_t *buf = c ? malloc((size_t)CTRL_BATCH * CTRL_SLOT) : NULL;
  uv_loop_t *loop = NULL;
  if (!c || !buf || napi_get_uv_event_loop(env, &loop) != napi_ok || uv_poll_init(loop, &c->poll, fd) != 0) {
    free(buf);
    free(c);
    close(fd);
    return throw_error(env, "ENOMEM", "could not set up the control socket");
  }
  c->buf = buf;
  c->env = env;
  c->fd = fd;
  c->family = family == AF_INET6 ? 6 : 4;
  c->poll.data = c;
  napi_value name, handle;
  napi_create_string_utf8(env, "udp-control", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &c->async_ctx);
  napi_create_reference(env, argv[4], 1, &c->cb);
  napi_create_external(env, c, ctrl_finalize, NULL, &handle);
  napi_create_reference(env, handle, 1, &c->self);
  napi_add_env_cleanup_hook(env, ctrl_cleanup_hook, c);
  uv_poll_start(&c->poll, UV_READABLE, ctrl_on_poll);
  return with_port(env, handle, bound_port);
}

/* controlSend(handle, bytes, address, port) -> 0 when the OS took the datagram, else the errno of the refusal */
static napi_value js_control_send(napi_env env, napi_callback_info info) {
  ARGS(4);
  ctrl_t *c = get_ctrl(env, argv[0]);
  if (!c) return NULL;
  void *data;
  size_t len;
  uint32_t port;
  char text[64];
  if (napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) return throw_error(env, "EINVAL", "expected a Buffer");
  if (get_str(env, argv[2], text, sizeof(text)) || get_u32(env, argv[3], &port)) return NULL;
  struct sockaddr_storage sa;
  socklen_t salen;
  if (parse_sa(text, port, &sa, &salen, NULL) != 0) return throw_error(env, "EINVAL", "bad destination address or port");
  int err = 0;
  if (c->closed)
    err = EBADF;
  else if ((c->family == 6) != (sa.ss_family == AF_INET6))
    err = EAFNOSUPPORT;
  else {
    ssize_t n;
    do n = sendto(c->fd, data, len, MSG_DONTWAIT, (struct sockaddr *)&sa, salen);
    while (n < 0 && errno == EINTR);
    if (n < 0) err = errno;
  }
  napi_value res;
  napi_create_uint32(env, (uint32_t)err, &res);
  return res;
}

/* controlClose(handle) */
static napi_value js_control_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  ctrl_t *c = get_ctrl(env, argv[0]);
  if (!c) return NULL;
  if (!c->closed) {
    ctrl_close(c);
    napi_delete_reference(env, c->self);
    c->self = NULL;
    if (c->arena != NULL) napi_delete_reference(env, c->arena);
    c->arena = NULL;
  }
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"create", NULL, js_create, NULL, NULL, NULL, napi_default, NULL},
      {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
      {"closeSocket", NULL, js_close_socket, NULL, NULL, NULL, napi_default, NULL},
      {"send", NULL, js_send, NULL, NULL, NULL, napi_default, NULL},
      {"setRoute", NULL, js_set_route, NULL, NULL, NULL, napi_default, NULL},
      {"setRouteTtl", NULL, js_set_route_ttl, NULL, NULL, NULL, napi_default, NULL},
      {"routeStats", NULL, js_route_stats, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, js_stats, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
      {"controlOpen", NULL, js_control_open, NULL, NULL, NULL, napi_default, NULL},
      {"controlSend", NULL, js_control_send, NULL, NULL, NULL, napi_default, NULL},
      {"controlClose", NULL, js_control_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}
