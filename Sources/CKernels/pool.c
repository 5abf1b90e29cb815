/* The persistent thread pool: workers wait for a job by spinning on a shared generation counter for a
 * short while, then sleep on a condition variable. The caller is thread 0 and works too. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE
#endif
#include "hydrakernels.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdint.h>
#include <time.h>

/* A job is open until the caller has done its own share; a worker that wakes up after that (it slept,
 * or another process had its CPU) skips the job instead of making the caller wait for it. */
#define TICKET_CLOSED ((uint64_t)1 << 31)
#define TICKET_JOINED_MASK (TICKET_CLOSED - 1)

struct hk_pool {
    int threads;
    int variant;
    int spin_us;
    pthread_t *workers;          /* (threads - 1) */
    _Atomic unsigned generation; /* bumped once per job */
    _Atomic int done;            /* workers finished with the current job */
    _Atomic uint64_t ticket;     /* generation << 32 | CLOSED | workers that joined the current job */
    _Atomic int sleepers;        /* workers asleep on `wake` */
    _Atomic int stop;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    pthread_mutex_t busy;        /* held by the caller running a job */
    hk_job job;
    void *context;
    double solo_until_us;        /* run jobs on the caller alone until then (a worker was preempted) */
};

/* When the caller waits this long for a worker that joined a job, the worker was preempted (another
 * process has its CPU): jobs then run on the caller alone for a while. Results do not change. */
#define PREEMPTED_WAIT_US 300.0
#define SOLO_PERIOD_US 50000.0

typedef struct {
    hk_pool *pool;
    int index;
    int cpu;
} worker_start;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static void *worker_main(void *argument) {
    worker_start start = *(worker_start *)argument;
    free(argument);
    hk_pool *pool = start.pool;
#if defined(__linux__)
    if (start.cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(start.cpu, &set);
        pthread_setaffinity_np(pthread_self(), sizeof(set), &set); /* best effort */
    }
#endif
    unsigned seen = 0;
    for (;;) {
        unsigned g = atomic_load_explicit(&pool->generation, memory_order_acquire);
        if (g == seen && !atomic_load(&pool->stop)) {
            /* Spin with `pause` for the first 50 us (the next product of a pass comes within microseconds),
             * then offer the CPU to other threads between checks until the spin time is over: on a machine
             * shared with other processes a busy-spinning worker would take the time of the thread it waits for. */
            double begin = now_us(), deadline = begin + pool->spin_us;
            for (int i = 0;; i++) {
                cpu_relax();
                g = atomic_load_explicit(&pool->generation, memory_order_acquire);
                if (g != seen || atomic_load_explicit(&pool->stop, memory_order_relaxed)) break;
                if ((i & 255) == 255) {
                    double now = now_us();
                    if (now > deadline) break;
                    if (now > begin + 50) sched_yield();
                }
            }
        }
        if (g == seen && !atomic_load(&pool->stop)) {
            pthread_mutex_lock(&pool->mutex);
            atomic_fetch_add(&pool->sleepers, 1);
            while ((g = atomic_load(&pool->generation)) == seen && !atomic_load(&pool->stop))
                pthread_cond_wait(&pool->wake, &pool->mutex);
            atomic_fetch_sub(&pool->sleepers, 1);
            pthread_mutex_unlock(&pool->mutex);
        }
        if (atomic_load(&pool->stop)) break;
        seen = g;
        /* Join the job unless the caller has closed it already. */
        uint64_t t = atomic_load(&pool->ticket);
        int joined = 0;
        while ((t >> 32) == g && !(t & TICKET_CLOSED)) {
            if (atomic_compare_exchange_weak(&pool->ticket, &t, t + 1)) { joined = 1; break; }
        }
        if (!joined) continue;
        pool->job(pool->context, start.index, pool->threads);
        atomic_fetch_add_explicit(&pool->done, 1, memory_order_release);
    }
    return NULL;
}

/* The CPUs this process may run on, in order (at most `capacity`); 0 when unknown. */
static int allowed_cpus(int *cpus, int capacity) {
#if defined(__linux__)
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return 0;
    int count = 0;
    for (int c = 0; c < CPU_SETSIZE && count < capacity; c++)
        if (CPU_ISSET(c, &set)) cpus[count++] = c;
    return count;
#else
    (void)cpus;
    (void)capacity;
    return 0;
#endif
}

hk_pool *hk_pool_create(int threads, int variant, int pin) {
    hk_pool *pool = calloc(1, sizeof(hk_pool));
    if (!pool) return NULL;
    pool->threads = threads < 1 ? 1 : (threads > 64 ? 64 : threads);
    pool->variant = hk_variant_supported(variant) ? variant : hk_best_variant();
    pool->spin_us = 500;
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_mutex_init(&pool->busy, NULL);
    atomic_init(&pool->generation, 0);
    atomic_init(&pool->done, 0);
    atomic_init(&pool->ticket, 0);
    atomic_init(&pool->sleepers, 0);
    atomic_init(&pool->stop, 0);
    int cpus[256];
    int cpuCount = pin ? allowed_cpus(cpus, 256) : 0;
    if (pool->threads > 1) {
        pool->workers = calloc((size_t)pool->threads - 1, sizeof(pthread_t));
        int started = 0;
        for (int t = 1; pool->workers && t < pool->threads; t++) {
            worker_start *start = malloc(sizeof(worker_start));
            if (!start) break;
            start->pool = pool;
            start->index = t;
            /* Worker t on the t-th allowed CPU; the caller stays where the OS puts it. */
            start->cpu = cpuCount > 1 ? cpus[t % cpuCount] : -1;
            if (pthread_create(&pool->workers[t - 1], NULL, worker_main, start) != 0) {
                free(start);
                break;
            }
            started++;
        }
        if (started != pool->threads - 1) {
            /* Could not start every worker: stop the started ones and run on one thread. */
            atomic_store(&pool->stop, 1);
            pthread_mutex_lock(&pool->mutex);
            pthread_cond_broadcast(&pool->wake);
            pthread_mutex_unlock(&pool->mutex);
            for (int t = 0; t < started; t++) pthread_join(pool->workers[t], NULL);
            free(pool->workers);
            pool->workers = NULL;
            pool->threads = 1;
            atomic_store(&pool->stop, 0);
        }
    }
    return pool;
}

void hk_pool_destroy(hk_pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->busy);
    atomic_store(&pool->stop, 1);
    pthread_mutex_lock(&pool->mutex);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mutex);
    for (int t = 1; pool->workers && t < pool->threads; t++) pthread_join(pool->workers[t - 1], NULL);
    pthread_mutex_unlock(&pool->busy);
    free(pool->workers);
    pthread_mutex_destroy(&pool->mutex);
    pthread_cond_destroy(&pool->wake);
    pthread_mutex_destroy(&pool->busy);
    free(pool);
}

int hk_pool_threads(const hk_pool *pool) { return pool ? pool->threads : 1; }
int hk_pool_variant(const hk_pool *pool) { return pool ? pool->variant : hk_best_variant(); }
void hk_pool_set_spin(hk_pool *pool, int microseconds) {
    if (pool) pool->spin_us = microseconds < 0 ? 0 : microseconds;
}

void hk_pool_run(hk_pool *pool, hk_job job, void *context) {
    if (!pool || pool->threads == 1 || pthread_mutex_trylock(&pool->busy) != 0) {
        job(context, 0, 1);
        return;
    }
    if (pool->solo_until_us > 0) {
        if (now_us() < pool->solo_until_us) {
            pthread_mutex_unlock(&pool->busy);
            job(context, 0, 1);
            return;
        }
        pool->solo_until_us = 0;
    }
    pool->job = job;
    pool->context = context;
    atomic_store_explicit(&pool->done, 0, memory_order_relaxed);
    unsigned g = atomic_load(&pool->generation) + 1;
    atomic_store(&pool->ticket, (uint64_t)g << 32); /* open, nobody joined */
    atomic_store(&pool->generation, g); /* sequentially consistent: pairs with the sleepers check */
    if (atomic_load(&pool->sleepers) > 0) {
        pthread_mutex_lock(&pool->mutex);
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->mutex);
    }
    job(context, 0, pool->threads);
    /* Close the job, then wait for the workers that joined it; if one is not running (another process
     * has its CPU), give up the time slice. */
    int joined = (int)(atomic_fetch_or(&pool->ticket, TICKET_CLOSED) & TICKET_JOINED_MASK);
    double waited_since = 0;
    for (int i = 0; atomic_load_explicit(&pool->done, memory_order_acquire) < joined; i++) {
        if (i < 4096) cpu_relax();
        else {
            if (waited_since == 0) waited_since = now_us();
            sched_yield();
        }
    }
    if (waited_since > 0) {
        double now = now_us();
        if (now - waited_since > PREEMPTED_WAIT_US) pool->solo_until_us = now + SOLO_PERIOD_US;
    }
    pthread_mutex_unlock(&pool->busy);
}
