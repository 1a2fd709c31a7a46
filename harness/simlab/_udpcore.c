/* The UDP relay's hot path in C: a native thread per relay reads, models and sends datagrams.
 *
 * Python keeps the control (harness/simlab/udp_native.py): it creates the relay and the shapers,
 * passes the model's parameters (computed from shaper.py / radio.py objects), reads the counters
 * and stops the relay. This thread, which never takes the GIL, does per datagram what
 * shaper.Direction.admit_datagram and radio.RadioLink.deliver_time do in Python: HARQ draws at
 * the BLER, random loss, admission at the kernel arrival time into the FIFO shaper (drained at
 * the rate, `limit_s` of queue, tail drop), slot alignment, HARQ rounds, core delay and jitter.
 * Datagrams wait in a delay line per direction (in order: nothing overtakes) and leave at their
 * due time (timerfd), runs of equal size as one GSO sendmsg, in bursts of `pace_burst`.
 *
 * What the relay itself fails to carry is counted apart from the cell's drops (C_RELAY_LOST):
 * its delay line full, its sockets' receive queues overflowing before it read them (the kernel's
 * drop count of each socket, SO_MEMINFO, read each time the socket is read: a drop means a full
 * queue, which is read later), a send the kernel refused for want of buffer. Those are this machine's
 * shortfall, not the simulated cell's: the lab reports them so that a trial can say it measured
 * the simulator. C_LATE counts datagrams sent more than LATE_S after their due time.
 */
#define PY_SSIZE_T_CLEAN
#define _GNU_SOURCE
#include <Python.h>
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#define MAXWIN 64
#define BATCH 64
#define SLOT 65536
#define READS_PER_EVENT 4
#define RING_BYTES (32u << 20)
#define RING_ENTRIES 65536u
#define GSO_MAX_SEG 64
#define GSO_MAX_BYTES 65000
#define MAX_HARQ_TX 4
#define HARQ_RTT_SLOTS 4
#define SOCKBUF (4 * 1024 * 1024)
#define K_LISTEN 0u
#define K_FLOW 1u
#define K_TIMER 2u
#define K_STOP 3u
#define LATE_S 2e-3
#ifndef SO_MEMINFO
#define SO_MEMINFO 55
#endif
#define MEMINFO_DROPS 8 /* SK_MEMINFO_DROPS in linux/sock_diag.h */
#define MEMINFO_N 9

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double realtime(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- Shaper: one FIFO queue drained at a rate, shared by every relay of a cell direction ---- */

typedef struct {
    PyObject_HEAD
    pthread_mutex_t mu;
    double rate_bps, limit_s, next, seen;
} Shaper;

static int shaper_offer(Shaper *s, double nbytes, double t, double now, double *ready) {
    int ok = 0;
    pthread_mutex_lock(&s->mu);
    double rate = s->rate_bps;
    if (rate > 0) {
        if (t < s->seen) t = s->seen;
        if (t > now) t = now;
        s->seen = t;
        if (!(s->next - t > s->limit_s)) {
            double air = nbytes * 8.0 / rate;
            s->next = (s->next > t ? s->next : t) + air;
            *ready = s->next;
            ok = 1;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return ok;
}

static PyObject *Shaper_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    Shaper *s = (Shaper *)type->tp_alloc(type, 0);
    if (s == NULL) return NULL;
    pthread_mutex_init(&s->mu, NULL);
    return (PyObject *)s;
}

static void Shaper_dealloc(Shaper *s) {
    pthread_mutex_destroy(&s->mu);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

static PyObject *Shaper_configure(Shaper *s, PyObject *args) {
    double rate, limit;
    if (!PyArg_ParseTuple(args, "dd", &rate, &limit)) return NULL;
    pthread_mutex_lock(&s->mu);
    s->rate_bps = rate;
    s->limit_s = limit;
    pthread_mutex_unlock(&s->mu);
    Py_RETURN_NONE;
}

static PyObject *Shaper_queue_end(Shaper *s, PyObject *unused) {
    pthread_mutex_lock(&s->mu);
    double end = s->next;
    pthread_mutex_unlock(&s->mu);
    return PyFloat_FromDouble(end);
}

static PyObject *Shaper_set_queue_end(Shaper *s, PyObject *arg) {
    double when = PyFloat_AsDouble(arg);
    if (when == -1.0 && PyErr_Occurred()) return NULL;
    pthread_mutex_lock(&s->mu);
    s->next = when;
    pthread_mutex_unlock(&s->mu);
    Py_RETURN_NONE;
}

static PyObject *Shaper_reserve(Shaper *s, PyObject *args) {
    double air, floor_t;
    if (!PyArg_ParseTuple(args, "dd", &air, &floor_t)) return NULL;
    pthread_mutex_lock(&s->mu);
    s->next = (s->next > floor_t ? s->next : floor_t) + air;
    if (floor_t > s->seen) s->seen = floor_t;
    double end = s->next;
    pthread_mutex_unlock(&s->mu);
    return PyFloat_FromDouble(end);
}

static PyMethodDef Shaper_methods[] = {
    {"configure", (PyCFunction)Shaper_configure, METH_VARARGS,
     "configure(rate_bps, limit_s): the drain rate (<= 0: carries nothing) and queue limit."},
    {"queue_end", (PyCFunction)Shaper_queue_end, METH_NOARGS,
     "When everything queued will have been serialised (monotonic time)."},
    {"set_queue_end", (PyCFunction)Shaper_set_queue_end, METH_O, "Move the queue's end."},
    {"reserve", (PyCFunction)Shaper_reserve, METH_VARARGS,
     "reserve(air_s, floor): atomically end = max(end, floor) + air_s; the new end."},
    {NULL, NULL, 0, NULL}};

static PyTypeObject ShaperType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "harness.simlab._udpcore.Shaper",
    .tp_basicsize = sizeof(Shaper),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A cell direction's FIFO queue drained at a rate (thread-safe).",
    .tp_new = Shaper_new,
    .tp_dealloc = (destructor)Shaper_dealloc,
    .tp_methods = Shaper_methods,
};

/* ---- one direction of a relay: model parameters, counters, delay line ---- */

typedef struct {
    uint32_t flow, gen, len, off;
    double due;
} Entry;

enum { C_BYTES, C_PACKETS, C_DROPS, C_TB, C_TBERR, C_SENDERR, C_RELAY_LOST, C_LATE, C_N };

typedef struct {
    Shaper *shaper;
    int radio, downlink, nwin;
    double period, slot, core_s, jitter_s, bler, loss;
    double starts[MAXWIN], ends[MAXWIN];
    uint64_t rng;
    uint64_t c[C_N];
    char *buf;
    size_t wpos;
    Entry *q;
    uint32_t qt, qn;
    double last_due, paced_until;
} Dir;

static uint64_t rng_next(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rng_uniform(uint64_t *s) { return (rng_next(s) >> 11) * 0x1.0p-53; }

static void next_window(const Dir *d, double t, double *start, double *end) {
    if (d->nwin == 0) {
        *start = *end = INFINITY;
        return;
    }
    double base = floor(t / d->period) * d->period;
    double phase = t - base - 1e-12;
    int i = 0;
    while (i < d->nwin && d->starts[i] < phase) i++;
    if (i == d->nwin) {
        base += d->period;
        i = 0;
    }
    *start = base + d->starts[i];
    *end = base + d->ends[i];
}

static double core_delay(Dir *d) {
    if (d->jitter_s <= 0) return d->core_s;
    double v = d->core_s + (2.0 * rng_uniform(&d->rng) - 1.0) * d->jitter_s;
    return v > 0 ? v : 0.0;
}

/* Direction.admit_datagram: 1 and *due, or 0 when the datagram is lost (counted). */
static int model_admit(Dir *d, uint32_t len, double t, double now, double *due) {
    int tx = 1;
    if (d->radio) {
        if (d->bler > 0) {
            while (rng_uniform(&d->rng) < d->bler) {
                if (tx == MAX_HARQ_TX) {
                    tx = 0;
                    break;
                }
                tx++;
            }
        }
        if (tx == 0) {
            d->c[C_TB] += MAX_HARQ_TX;
            d->c[C_TBERR] += MAX_HARQ_TX;
            d->c[C_DROPS]++;
            return 0;
        }
        d->c[C_TB] += tx;
        d->c[C_TBERR] += tx - 1;
        if (d->loss > 0 && rng_uniform(&d->rng) < d->loss) {
            d->c[C_DROPS]++;
            return 0;
        }
    }
    double ready;
    if (!shaper_offer(d->shaper, (double)len * tx, t, now, &ready)) {
        d->c[C_DROPS]++;
        return 0;
    }
    if (!d->radio) {
        *due = ready;
        return 1;
    }
    double start, end, at = d->downlink ? ready + core_delay(d) : ready;
    next_window(d, at, &start, &end);
    for (int i = 1; i < tx; i++) next_window(d, start + HARQ_RTT_SLOTS * d->slot, &start, &end);
    if (!d->downlink) end += core_delay(d);
    *due = end;
    return 1;
}

/* Room for `len` bytes in the byte ring, or -1. */
static long ring_alloc(Dir *d, uint32_t len) {
    if (d->qn >= RING_ENTRIES) return -1;
    if (d->qn == 0) {
        d->wpos = 0;
        return len <= RING_BYTES ? 0 : -1;
    }
    size_t w = d->wpos, r = d->q[d->qt].off;
    if (w >= r) {
        if (w + len <= RING_BYTES) return (long)w;
        return len < r ? 0 : -1;
    }
    return w + len < r ? (long)w : -1;
}

/* ---- flows and the relay ---- */

typedef struct {
    int fd, used;
    uint32_t gen, ovfl; /* ovfl: the socket's drop count (SO_MEMINFO) last seen */
    struct sockaddr_storage ue;
    socklen_t uelen;
    double last_seen;
} Flow;

typedef struct {
    PyObject_HEAD
    pthread_mutex_t mu;
    pthread_t thread;
    int running;
    atomic_int stop;
    int listen_fd, ep, tfd, efd, gso, pace_burst, max_flows, nflows, active;
    double idle_timeout, pace_bps, armed, last_sweep, coalesce_s;
    int coalesce_min;
    struct sockaddr_storage target;
    socklen_t tlen;
    Dir dir[2]; /* 0: uplink (UE -> DN), 1: downlink */
    Flow *flows;
    int last_flow;
    uint64_t opened, refused, read_errors, unstamped;
    uint32_t listen_ovfl; /* the listener's drop count (SO_MEMINFO) last seen */
    double cpu_user, cpu_sys; /* the native thread's CPU time, seconds */
    char *stage;
    struct mmsghdr rmsg[BATCH];
    struct iovec riov[BATCH];
    struct sockaddr_storage rname[BATCH];
    char rctrl[BATCH][64];
    struct mmsghdr smsg[BATCH];
    struct iovec siov[BATCH * GSO_MAX_SEG];
    char sctrl[BATCH][CMSG_SPACE(sizeof(uint16_t))];
    uint32_t scount[BATCH];
} Relay;

static void set_due_timer(Relay *r) {
    double next = INFINITY;
    for (int k = 0; k < 2; k++) {
        Dir *d = &r->dir[k];
        if (d->qn) {
            double t = d->q[d->qt].due;
            if (d->paced_until > t) t = d->paced_until;
            if (t < next) next = t;
        }
    }
    if (next == r->armed) return;
    struct itimerspec its = {0};
    if (next != INFINITY) {
        if (next <= 0) next = 1e-9;
        its.it_value.tv_sec = (time_t)next;
        its.it_value.tv_nsec = (long)((next - (double)(time_t)next) * 1e9);
        if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) its.it_value.tv_nsec = 1;
    }
    timerfd_settime(r->tfd, TFD_TIMER_ABSTIME, &its, NULL);
    r->armed = next;
}

static int find_flow(Relay *r, const struct sockaddr_storage *a, socklen_t alen) {
    int lf = r->last_flow;
    if (lf >= 0 && r->flows[lf].used && r->flows[lf].uelen == alen &&
        memcmp(&r->flows[lf].ue, a, alen) == 0)
        return lf;
    for (int i = 0; i < r->nflows; i++)
        if (r->flows[i].used && r->flows[i].uelen == alen && memcmp(&r->flows[i].ue, a, alen) == 0)
            return r->last_flow = i;
    return -1;
}

static int open_flow(Relay *r, const struct sockaddr_storage *a, socklen_t alen, double now) {
    int slot = -1;
    for (int i = 0; i < r->nflows; i++)
        if (!r->flows[i].used) {
            slot = i;
            break;
        }
    if (slot < 0) {
        if (r->nflows >= r->max_flows) return -1;
        slot = r->nflows++;
    }
    int fd = socket(r->target.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1, size = SOCKBUF;
    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = ((uint64_t)K_FLOW << 32) | slot};
    if (connect(fd, (struct sockaddr *)&r->target, r->tlen) < 0 ||
        epoll_ctl(r->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        close(fd);
        return -1;
    }
    Flow *f = &r->flows[slot];
    f->fd = fd;
    f->used = 1;
    f->gen++;
    f->ovfl = 0;
    memcpy(&f->ue, a, alen);
    f->uelen = alen;
    f->last_seen = now;
    r->opened++;
    r->active++;
    return r->last_flow = slot;
}

/* Datagrams the kernel dropped at `fd` (receive queue full: not read in time) since `*seen`,
 * counted as the relay's loss in `d`. */
static void socket_drops(int fd, uint32_t *seen, Dir *d) {
    uint32_t info[MEMINFO_N] = {0};
    socklen_t len = sizeof info;
    if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_MEMINFO, info, &len) < 0 ||
        len < sizeof info)
        return;
    d->c[C_RELAY_LOST] += (uint32_t)(info[MEMINFO_DROPS] - *seen);
    *seen = info[MEMINFO_DROPS];
}

/* One socket's drops so far (call with the mutex held); flow < 0: the listener, whose drops
 * are datagrams from UEs (uplink); a flow's are those from the data network (downlink). */
static void drops_of(Relay *r, int flow) {
    if (flow < 0)
        socket_drops(r->listen_fd, &r->listen_ovfl, &r->dir[0]);
    else if (r->flows[flow].used)
        socket_drops(r->flows[flow].fd, &r->flows[flow].ovfl, &r->dir[1]);
}

/* Every socket's drops so far (call with the mutex held). */
static void poll_drops(Relay *r) {
    drops_of(r, -1);
    for (int i = 0; i < r->nflows; i++) drops_of(r, i);
}

static void close_flow(Relay *r, int i) {
    Flow *f = &r->flows[i];
    if (!f->used) return;
    drops_of(r, i);
    close(f->fd);
    f->used = 0;
    f->gen++;
    r->active--;
}

static void enqueue(Relay *r, Dir *d, int flow, const char *data, uint32_t len, double t,
                    double now) {
    double due;
    if (!model_admit(d, len, t, now, &due)) return;
    long off = ring_alloc(d, len);
    if (off < 0) { /* the relay's own delay line is full: its shortfall, not the cell's */
        d->c[C_RELAY_LOST]++;
        return;
    }
    if (due < d->last_due) due = d->last_due; /* in order: nothing overtakes */
    d->last_due = due;
    memcpy(d->buf + off, data, len);
    d->wpos = (size_t)off + len;
    Entry *e = &d->q[(d->qt + d->qn) % RING_ENTRIES];
    e->flow = (uint32_t)flow;
    e->gen = r->flows[flow].gen;
    e->len = len;
    e->off = (uint32_t)off;
    e->due = due;
    d->qn++;
}

/* Read up to READS_PER_EVENT batches from `fd`; flow < 0: the listener. Datagrams read. */
static int read_batches(Relay *r, int fd, int flow) {
    int total = 0;
    for (int round = 0; round < READS_PER_EVENT; round++) {
        for (int i = 0; i < BATCH; i++) {
            struct msghdr *h = &r->rmsg[i].msg_hdr;
            h->msg_name = flow < 0 ? &r->rname[i] : NULL;
            h->msg_namelen = flow < 0 ? sizeof(struct sockaddr_storage) : 0;
            h->msg_control = r->rctrl[i];
            h->msg_controllen = sizeof r->rctrl[i];
            h->msg_flags = 0;
        }
        int k = recvmmsg(fd, r->rmsg, BATCH, MSG_DONTWAIT, NULL);
        if (k <= 0) {
            if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                r->read_errors++; /* e.g. ECONNREFUSED: ICMP for an earlier datagram */
            return total;
        }
        total += k;
        double now = mono(), offset = realtime() - now;
        pthread_mutex_lock(&r->mu);
        for (int i = 0; i < k; i++) {
            struct msghdr *h = &r->rmsg[i].msg_hdr;
            double t = -1;
            for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPNS) {
                    struct timespec ts;
                    memcpy(&ts, CMSG_DATA(c), sizeof ts);
                    t = (double)ts.tv_sec + ts.tv_nsec * 1e-9 - offset;
                    if (t > now) t = now;
                }
            if (t < 0) { /* no kernel stamp: admitted at the read time */
                t = now;
                r->unstamped++;
            }
            uint32_t len = r->rmsg[i].msg_len;
            const char *data = r->stage + (size_t)i * SLOT;
            if (flow < 0) {
                int f = find_flow(r, &r->rname[i], h->msg_namelen);
                if (f < 0) f = open_flow(r, &r->rname[i], h->msg_namelen, now);
                if (f < 0) {
                    r->refused++;
                    r->dir[0].c[C_DROPS]++;
                    continue;
                }
                r->flows[f].last_seen = now;
                enqueue(r, &r->dir[0], f, data, len, t, now);
            } else {
                r->flows[flow].last_seen = now;
                enqueue(r, &r->dir[1], flow, data, len, t, now);
            }
        }
        pthread_mutex_unlock(&r->mu);
        if (k < BATCH) return total;
    }
    return total;
}

/* read_batches, then what the kernel dropped at `fd` meanwhile (the relay's own loss). */
static int read_socket(Relay *r, int fd, int flow) {
    int got = read_batches(r, fd, flow);
    pthread_mutex_lock(&r->mu);
    drops_of(r, flow);
    pthread_mutex_unlock(&r->mu);
    return got;
}

static int gso_refused(int e) {
    return e == EINVAL || e == EIO || e == ENOPROTOOPT || e == EOPNOTSUPP || e == EMSGSIZE;
}

/* Send what is due in direction k (0: to the DN on the flow's socket, 1: to the UE). */
static void send_due(Relay *r, int k, double now) {
    Dir *d = &r->dir[k];
    int budget = r->pace_burst;
    size_t paced_bytes = 0;
    if (d->paced_until > now) return;
    while (d->qn && d->q[d->qt].due <= now && budget > 0) {
        int nm = 0, fd = -1, niov = 0;
        uint32_t idx = d->qt, left = d->qn;
        while (left && nm < BATCH && budget > 0 && d->q[idx].due <= now) {
            Entry *e = &d->q[idx];
            Flow *f = &r->flows[e->flow];
            int live = f->used && f->gen == e->gen;
            int efd = !live ? -1 : k == 0 ? f->fd : r->listen_fd;
            if (nm && efd != fd) break;
            fd = efd;
            uint32_t n = 1;
            while (r->gso && e->len > 0 && n < left && (int)n < budget && n < GSO_MAX_SEG &&
                   (n + 1) * e->len <= GSO_MAX_BYTES) {
                Entry *x = &d->q[(idx + n) % RING_ENTRIES];
                if (x->due > now || x->flow != e->flow || x->gen != e->gen || x->len != e->len)
                    break;
                n++;
            }
            struct msghdr *h = &r->smsg[nm].msg_hdr;
            memset(h, 0, sizeof *h);
            if (k == 1 && live) {
                h->msg_name = &f->ue;
                h->msg_namelen = f->uelen;
            }
            h->msg_iov = &r->siov[niov];
            h->msg_iovlen = n;
            for (uint32_t j = 0; j < n; j++) {
                Entry *x = &d->q[(idx + j) % RING_ENTRIES];
                r->siov[niov + j].iov_base = d->buf + x->off;
                r->siov[niov + j].iov_len = x->len;
                if (now - x->due > LATE_S) d->c[C_LATE]++;
            }
            niov += n;
            if (n > 1) {
                h->msg_control = r->sctrl[nm];
                h->msg_controllen = sizeof r->sctrl[nm];
                struct cmsghdr *c = CMSG_FIRSTHDR(h);
                c->cmsg_level = SOL_UDP;
                c->cmsg_type = UDP_SEGMENT;
                c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
                uint16_t seg = (uint16_t)e->len;
                memcpy(CMSG_DATA(c), &seg, sizeof seg);
            }
            r->scount[nm++] = n;
            idx = (idx + n) % RING_ENTRIES;
            left -= n;
            budget -= (int)n;
            paced_bytes += (size_t)n * e->len;
            if (!live) break;
        }
        int done = 0;
        if (fd >= 0) {
            while (done < nm) {
                int s = sendmmsg(fd, &r->smsg[done], nm - done, MSG_DONTWAIT);
                if (s > 0) {
                    for (int i = done; i < done + s; i++) {
                        uint32_t n = r->scount[i];
                        d->c[C_PACKETS] += n;
                        for (size_t j = 0; j < r->smsg[i].msg_hdr.msg_iovlen; j++)
                            d->c[C_BYTES] += ((struct iovec *)r->smsg[i].msg_hdr.msg_iov)[j].iov_len;
                    }
                    done += s;
                    continue;
                }
                if (s < 0 && errno == EINTR) continue;
                if (s < 0 && r->scount[done] > 1 && gso_refused(errno)) {
                    r->gso = 0; /* the kernel refuses GSO: one datagram per message from now */
                    nm = done;
                    break;
                }
                /* full buffer: the relay's shortfall; ICMP error pending, unreachable: lost
                 * past the cell, as the kernel would lose it */
                int own = s < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS);
                d->c[own ? C_RELAY_LOST : C_DROPS] += r->scount[done];
                d->c[C_SENDERR]++;
                done++;
            }
        } else {
            d->c[C_DROPS] += r->scount[0]; /* its flow was closed meanwhile */
            done = nm;
        }
        for (int i = 0; i < nm; i++) {
            d->qt = (d->qt + r->scount[i]) % RING_ENTRIES;
            d->qn -= r->scount[i];
        }
        if (nm < done || (nm == 0 && fd >= 0)) break;
    }
    if (d->qn == 0) d->last_due = 0;
    if (budget <= 0 && r->pace_bps > 0) d->paced_until = now + paced_bytes * 8.0 / r->pace_bps;
}

static void thread_cpu(Relay *r) {
    struct rusage u;
    if (getrusage(RUSAGE_THREAD, &u) == 0) {
        r->cpu_user = u.ru_utime.tv_sec + u.ru_utime.tv_usec * 1e-6;
        r->cpu_sys = u.ru_stime.tv_sec + u.ru_stime.tv_usec * 1e-6;
    }
}

static void sweep(Relay *r, double now) {
    r->last_sweep = now;
    thread_cpu(r);
    double horizon = now - r->idle_timeout;
    for (int i = 0; i < r->nflows; i++)
        if (r->flows[i].used && r->flows[i].last_seen < horizon) {
            int pending = 0;
            for (int k = 0; k < 2 && !pending; k++)
                for (uint32_t j = 0; j < r->dir[k].qn && !pending; j++)
                    pending = r->dir[k].q[(r->dir[k].qt + j) % RING_ENTRIES].flow == (uint32_t)i;
            if (!pending) close_flow(r, i);
        }
}

static void *run(void *arg) {
    Relay *r = arg;
    struct epoll_event evs[32];
    while (!atomic_load(&r->stop)) {
        int got = 0;
        pthread_mutex_lock(&r->mu);
        set_due_timer(r);
        pthread_mutex_unlock(&r->mu);
        int n = epoll_wait(r->ep, evs, 32, 500);
        if (n < 0 && errno != EINTR) break;
        for (int i = 0; i < n; i++) {
            uint32_t kind = (uint32_t)(evs[i].data.u64 >> 32);
            uint32_t idx = (uint32_t)evs[i].data.u64;
            if (kind == K_STOP) goto out;
            if (kind == K_TIMER) {
                uint64_t x;
                if (read(r->tfd, &x, sizeof x) < 0) { /* spurious: nothing expired */
                }
                r->armed = -1;
            } else if (kind == K_LISTEN) {
                got += read_socket(r, r->listen_fd, -1);
            } else if (idx < (uint32_t)r->nflows && r->flows[idx].used) {
                got += read_socket(r, r->flows[idx].fd, (int)idx);
            }
        }
        double now = mono();
        pthread_mutex_lock(&r->mu);
        send_due(r, 0, now);
        send_due(r, 1, now);
        if (now - r->last_sweep > 1.0) sweep(r, now);
        double next = INFINITY;
        for (int k = 0; k < 2; k++)
            if (r->dir[k].qn) {
                double t = r->dir[k].q[r->dir[k].qt].due;
                t = t > r->dir[k].paced_until ? t : r->dir[k].paced_until;
                next = t < next ? t : next;
            }
        pthread_mutex_unlock(&r->mu);
        /* Busy: let datagrams gather for a while (their kernel stamps keep their arrival
         * times) instead of waking for every few; never past the next due time. */
        double gather = r->coalesce_s;
        for (int k = 0; k < 2; k++) /* never more than half a slot: a due time stays ahead */
            if (r->dir[k].radio && r->dir[k].slot / 2 < gather) gather = r->dir[k].slot / 2;
        if (got >= r->coalesce_min && gather > 0) {
            double until = now + gather;
            if (next < until) until = next;
            if (until > now) {
                struct timespec ts = {.tv_sec = (time_t)until,
                                      .tv_nsec = (long)((until - (double)(time_t)until) * 1e9)};
                clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
            }
        }
    }
out:
    pthread_mutex_lock(&r->mu);
    thread_cpu(r);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* ---- the Python type ---- */

static void relay_close_fds(Relay *r) {
    for (int i = 0; i < r->nflows; i++) close_flow(r, i);
    int *fds[] = {&r->ep, &r->tfd, &r->efd};
    for (int i = 0; i < 3; i++)
        if (*fds[i] >= 0) {
            close(*fds[i]);
            *fds[i] = -1;
        }
}

static void relay_stop(Relay *r) {
    if (!r->running) return;
    atomic_store(&r->stop, 1);
    uint64_t one = 1;
    if (write(r->efd, &one, sizeof one) < 0) { /* the flag alone stops it within 0.5 s */
    }
    Py_BEGIN_ALLOW_THREADS
    pthread_join(r->thread, NULL);
    Py_END_ALLOW_THREADS
    r->running = 0;
}

static void Relay_dealloc(Relay *r) {
    relay_stop(r);
    relay_close_fds(r);
    for (int k = 0; k < 2; k++) {
        Py_XDECREF(r->dir[k].shaper);
        PyMem_RawFree(r->dir[k].buf);
        PyMem_RawFree(r->dir[k].q);
    }
    PyMem_RawFree(r->flows);
    PyMem_RawFree(r->stage);
    pthread_mutex_destroy(&r->mu);
    Py_TYPE(r)->tp_free((PyObject *)r);
}

static PyObject *Relay_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    static char *names[] = {"listen_fd", "family", "target_host", "target_port", "up", "down",
                            "max_flows", "idle_timeout_s", "pace_bps", "pace_burst",
                            "coalesce_s", "coalesce_min", NULL};
    int fd, family, port, max_flows = 4096, burst = 64, cmin = 1;
    const char *host;
    double idle = 60.0, pace = 10e9, coalesce = 250e-6;
    Shaper *up, *down;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "iisiO!O!|iddidi", names, &fd, &family, &host,
                                     &port, &ShaperType, &up, &ShaperType, &down, &max_flows,
                                     &idle, &pace, &burst, &coalesce, &cmin))
        return NULL;
    if (max_flows < 1 || burst < 1 || burst > BATCH || port < 0 || port > 65535) {
        PyErr_SetString(PyExc_ValueError, "max_flows >= 1, 1 <= pace_burst <= 64, port 0-65535");
        return NULL;
    }
    Relay *r = (Relay *)type->tp_alloc(type, 0);
    if (r == NULL) return NULL;
    pthread_mutex_init(&r->mu, NULL);
    r->ep = r->tfd = r->efd = -1;
    r->listen_fd = fd;
    r->gso = 1;
    r->max_flows = max_flows;
    r->idle_timeout = idle;
    r->pace_bps = pace;
    r->pace_burst = burst;
    r->coalesce_s = coalesce < 0 ? 0 : coalesce > 0.01 ? 0.01 : coalesce;
    r->coalesce_min = cmin < 1 ? 1 : cmin;
    r->last_flow = -1;
    r->armed = -1;
    Py_INCREF(up);
    Py_INCREF(down);
    r->dir[0].shaper = up;
    r->dir[1].shaper = down;
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&r->target;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        r->tlen = sizeof *a;
        if (inet_pton(AF_INET, host, &a->sin_addr) != 1) goto bad;
    } else if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&r->target;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        r->tlen = sizeof *a;
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1) goto bad;
    } else {
        goto bad;
    }
    r->flows = PyMem_RawCalloc((size_t)max_flows, sizeof(Flow));
    r->stage = PyMem_RawMalloc((size_t)BATCH * SLOT);
    for (int k = 0; k < 2; k++) {
        r->dir[k].buf = PyMem_RawMalloc(RING_BYTES);
        r->dir[k].q = PyMem_RawMalloc(RING_ENTRIES * sizeof(Entry));
        if (!r->dir[k].buf || !r->dir[k].q) goto nomem;
    }
    if (!r->flows || !r->stage) goto nomem;
    for (int i = 0; i < BATCH; i++) {
        r->riov[i].iov_base = r->stage + (size_t)i * SLOT;
        r->riov[i].iov_len = SLOT;
        r->rmsg[i].msg_hdr.msg_iov = &r->riov[i];
        r->rmsg[i].msg_hdr.msg_iovlen = 1;
    }
    return (PyObject *)r;
bad:
    PyErr_Format(PyExc_ValueError, "not a numeric address of family %d: %s", family, host);
    Py_DECREF(r);
    return NULL;
nomem:
    Py_DECREF(r);
    return PyErr_NoMemory();
}

static PyObject *Relay_start(Relay *r, PyObject *unused) {
    if (r->running || r->ep >= 0) {
        PyErr_SetString(PyExc_RuntimeError, "the relay was already started");
        return NULL;
    }
    r->ep = epoll_create1(EPOLL_CLOEXEC);
    r->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    int one = 1;
    setsockopt(r->listen_fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
    uint32_t info[MEMINFO_N] = {0}; /* what the listener dropped before: not this relay's */
    socklen_t ilen = sizeof info;
    if (getsockopt(r->listen_fd, SOL_SOCKET, SO_MEMINFO, info, &ilen) == 0 && ilen >= sizeof info)
        r->listen_ovfl = info[MEMINFO_DROPS];
    struct epoll_event ev[3] = {
        {.events = EPOLLIN, .data.u64 = (uint64_t)K_LISTEN << 32},
        {.events = EPOLLIN, .data.u64 = (uint64_t)K_TIMER << 32},
        {.events = EPOLLIN, .data.u64 = (uint64_t)K_STOP << 32}};
    if (r->ep < 0 || r->tfd < 0 || r->efd < 0 ||
        epoll_ctl(r->ep, EPOLL_CTL_ADD, r->listen_fd, &ev[0]) < 0 ||
        epoll_ctl(r->ep, EPOLL_CTL_ADD, r->tfd, &ev[1]) < 0 ||
        epoll_ctl(r->ep, EPOLL_CTL_ADD, r->efd, &ev[2]) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        relay_close_fds(r);
        return NULL;
    }
    int rc = pthread_create(&r->thread, NULL, run, r);
    if (rc != 0) {
        errno = rc;
        PyErr_SetFromErrno(PyExc_OSError);
        relay_close_fds(r);
        return NULL;
    }
    pthread_setname_np(r->thread, "udp-relay");
    r->running = 1;
    Py_RETURN_NONE;
}

static PyObject *Relay_stop(Relay *r, PyObject *unused) {
    relay_stop(r);
    pthread_mutex_lock(&r->mu);
    poll_drops(r);
    pthread_mutex_unlock(&r->mu);
    relay_close_fds(r);
    Py_RETURN_NONE;
}

/* configure(k, radio, downlink, starts, ends, period_s, slot_s, core_s, jitter_s, bler, loss,
 * seed): direction k's model (0 uplink, 1 downlink); the seed None keeps the PRNG's state. */
static PyObject *Relay_configure(Relay *r, PyObject *args) {
    int k, radio, downlink;
    PyObject *starts, *ends, *seed;
    double period, slot, core, jitter, bler, loss;
    if (!PyArg_ParseTuple(args, "ippOOddddddO", &k, &radio, &downlink, &starts, &ends, &period,
                          &slot, &core, &jitter, &bler, &loss, &seed))
        return NULL;
    PyObject *s = PySequence_Fast(starts, "starts must be a sequence");
    PyObject *e = s ? PySequence_Fast(ends, "ends must be a sequence") : NULL;
    if (!e) {
        Py_XDECREF(s);
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(s);
    double st[MAXWIN], en[MAXWIN];
    int ok = k >= 0 && k <= 1 && n <= MAXWIN && n == PySequence_Fast_GET_SIZE(e) &&
             period > 0 && slot > 0 && bler >= 0 && bler < 1 && loss >= 0 && loss <= 1 &&
             core >= 0 && jitter >= 0;
    for (Py_ssize_t i = 0; ok && i < n; i++) {
        st[i] = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(s, i));
        en[i] = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(e, i));
        if (PyErr_Occurred()) ok = 0;
    }
    Py_DECREF(s);
    Py_DECREF(e);
    uint64_t sv = 0;
    if (ok && seed != Py_None) {
        sv = PyLong_AsUnsignedLongLongMask(seed);
        if (PyErr_Occurred()) ok = 0;
    }
    if (!ok) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "bad model parameters (k, windows, ranges)");
        return NULL;
    }
    pthread_mutex_lock(&r->mu);
    Dir *d = &r->dir[k];
    d->radio = radio;
    d->downlink = downlink;
    d->nwin = (int)n;
    memcpy(d->starts, st, sizeof(double) * n);
    memcpy(d->ends, en, sizeof(double) * n);
    d->period = period;
    d->slot = slot;
    d->core_s = core;
    d->jitter_s = jitter;
    d->bler = bler;
    d->loss = loss;
    if (seed != Py_None) d->rng = sv;
    pthread_mutex_unlock(&r->mu);
    Py_RETURN_NONE;
}

static PyObject *Relay_counters(Relay *r, PyObject *unused) {
    uint64_t c[2][C_N];
    pthread_mutex_lock(&r->mu);
    memcpy(c[0], r->dir[0].c, sizeof c[0]);
    memcpy(c[1], r->dir[1].c, sizeof c[1]);
    int active = r->active;
    uint64_t opened = r->opened, refused = r->refused, rerr = r->read_errors;
    uint64_t unstamped = r->unstamped;
    int gso = r->gso;
    double cu = r->cpu_user, cs = r->cpu_sys;
    pthread_mutex_unlock(&r->mu);
    return Py_BuildValue("{s:(KKKKKKKK),s:(KKKKKKKK),s:i,s:K,s:K,s:K,s:O,s:d,s:d,s:K}",
                         "up", c[0][0], c[0][1], c[0][2], c[0][3], c[0][4], c[0][5], c[0][6],
                         c[0][7], "down", c[1][0], c[1][1], c[1][2], c[1][3], c[1][4], c[1][5],
                         c[1][6], c[1][7], "flows", active, "opened", opened,
                         "refused", refused, "read_errors", rerr, "gso",
                         gso ? Py_True : Py_False, "cpu_user_s", cu, "cpu_sys_s", cs,
                         "unstamped", unstamped);
}

/* admit(k, sizes, arrivals, now): the model alone (no socket, no delay line), for tests. */
static PyObject *Relay_admit(Relay *r, PyObject *args) {
    int k;
    PyObject *sizes, *arrivals;
    double now;
    if (!PyArg_ParseTuple(args, "iOOd", &k, &sizes, &arrivals, &now)) return NULL;
    if (k < 0 || k > 1) {
        PyErr_SetString(PyExc_ValueError, "k is 0 (uplink) or 1 (downlink)");
        return NULL;
    }
    PyObject *s = PySequence_Fast(sizes, "sizes must be a sequence");
    PyObject *a = s ? PySequence_Fast(arrivals, "arrivals must be a sequence") : NULL;
    if (!a || PySequence_Fast_GET_SIZE(s) != PySequence_Fast_GET_SIZE(a)) {
        if (a) PyErr_SetString(PyExc_ValueError, "as many arrivals as sizes");
        Py_XDECREF(s);
        Py_XDECREF(a);
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(s);
    PyObject *out = PyList_New(n);
    for (Py_ssize_t i = 0; out && i < n; i++) {
        long len = PyLong_AsLong(PySequence_Fast_GET_ITEM(s, i));
        double t = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(a, i));
        if (PyErr_Occurred() || len < 0 || len > 65535) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "sizes are 0-65535");
            Py_CLEAR(out);
            break;
        }
        double due;
        pthread_mutex_lock(&r->mu);
        int ok = model_admit(&r->dir[k], (uint32_t)len, t, now, &due);
        pthread_mutex_unlock(&r->mu);
        PyObject *v = ok ? PyFloat_FromDouble(due) : Py_NewRef(Py_None);
        if (!v) {
            Py_CLEAR(out);
            break;
        }
        PyList_SET_ITEM(out, i, v);
    }
    Py_DECREF(s);
    Py_DECREF(a);
    return out;
}

static PyObject *Relay_running(Relay *r, void *unused) { return PyBool_FromLong(r->running); }

static PyMethodDef Relay_methods[] = {
    {"start", (PyCFunction)Relay_start, METH_NOARGS, "Start the relay's native thread."},
    {"stop", (PyCFunction)Relay_stop, METH_NOARGS,
     "Stop the thread (joined) and close the flows' sockets; the listener stays Python's."},
    {"configure", (PyCFunction)Relay_configure, METH_VARARGS, "A direction's model parameters."},
    {"counters", (PyCFunction)Relay_counters, METH_NOARGS,
     "Totals per direction: (bytes, packets, drops, tb_total, tb_errors, send_errors, "
     "relay_lost, late)."},
    {"admit", (PyCFunction)Relay_admit, METH_VARARGS,
     "admit(k, sizes, arrivals, now): due times (None: lost) from the model alone."},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Relay_getset[] = {
    {"running", (getter)Relay_running, NULL, "Whether the native thread runs.", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject RelayType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "harness.simlab._udpcore.Relay",
    .tp_basicsize = sizeof(Relay),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A UDP relay whose native thread reads, models and sends datagrams.",
    .tp_new = Relay_new,
    .tp_dealloc = (destructor)Relay_dealloc,
    .tp_methods = Relay_methods,
    .tp_getset = Relay_getset,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_udpcore",
    "The UDP relay's hot path: a native thread per relay (see harness.simlab.udp_native).", -1,
    NULL};

PyMODINIT_FUNC PyInit__udpcore(void) {
    if (PyType_Ready(&ShaperType) < 0 || PyType_Ready(&RelayType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddObjectRef(m, "Shaper", (PyObject *)&ShaperType) < 0 ||
        PyModule_AddObjectRef(m, "Relay", (PyObject *)&RelayType) < 0 ||
        PyModule_AddIntConstant(m, "MAX_HARQ_TX", MAX_HARQ_TX) < 0 ||
        PyModule_AddIntConstant(m, "RING_BYTES", RING_BYTES) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
