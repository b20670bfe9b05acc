// A persistent worker pool for the kernels' parallel loops.
//
// Posting a job publishes its fields under a sequence counter (odd while they are written) and resets one
// 64-bit claim word: (job id << 32) | next task. Threads take tasks by compare-and-swap on that word, so a
// task can only ever be taken for the job whose fields the thread read, and the poster never waits for a
// worker that took nothing: a descheduled worker (common on a busy machine) costs nothing unless it
// holds a task. Idle workers spin briefly, yielding, then sleep on a condition variable.
#include "nibble_kernels.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#define CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

/// Most workers the pool will start (threads beyond this count are not used).
#define MAX_WORKERS 255
/// Polls of the sequence counter before a worker sleeps (tens of microseconds: enough to bridge the gap
/// between the matmuls of one token, short enough not to take a shared machine's cores while idle).
#define SPIN_POLLS 4096
/// Polls between yields of the core while spinning, so a thread that has work can run on it.
#define YIELD_EVERY 256

static pthread_mutex_t pool_mutex = PTHREAD_MUTEX_INITIALIZER;  // guards sleeping and worker start-up
static pthread_cond_t pool_wake = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t job_mutex = PTHREAD_MUTEX_INITIALIZER;   // one job at a time
static size_t started_workers;                                  // worker threads alive (guarded by pool_mutex)

static atomic_ulong sequence;            // 2 × job id; odd while a job's fields are being written
static atomic_int sleepers;              // workers blocked on pool_wake
static _Atomic uint64_t claim;           // (job id << 32) | index of the next unclaimed task
static atomic_size_t unfinished;         // claimed-or-not tasks of the current job not yet completed
static _Atomic(nibble_task_fn) job_fn;   // the current job, valid while `sequence` is even and unchanged
static _Atomic(void *) job_context;
static atomic_size_t job_tasks;
static atomic_size_t job_helpers;        // workers (by index) allowed to take part

/// Takes and runs tasks of job `id` until none is left; stops at once if another job has replaced it.
static void run_tasks(uint32_t id, nibble_task_fn fn, void *context, size_t tasks) {
    uint64_t current = atomic_load_explicit(&claim, memory_order_relaxed);
    for (;;) {
        if ((uint32_t)(current >> 32) != id || (current & 0xFFFFFFFFu) >= tasks) return;
        if (atomic_compare_exchange_weak_explicit(&claim, &current, current + 1, memory_order_acquire,
                                                  memory_order_relaxed)) {
            fn(context, (size_t)(current & 0xFFFFFFFFu));
            atomic_fetch_sub_explicit(&unfinished, 1, memory_order_release);
            current = atomic_load_explicit(&claim, memory_order_relaxed);
        }
    }
}

/// What a new worker starts from: its index and the sequence value of the last job it is not part of.
typedef struct {
    size_t index;
    unsigned long seen;
} worker_start;

static void *worker_main(void *argument) {
    worker_start start = *(worker_start *)argument;
    free(argument);
    unsigned long seen = start.seen;
    for (;;) {
        unsigned long now;
        int polls = 0;
        while ((now = atomic_load_explicit(&sequence, memory_order_acquire)) == seen || (now & 1)) {
            if (++polls >= SPIN_POLLS && !(now & 1)) {
                pthread_mutex_lock(&pool_mutex);
                atomic_fetch_add(&sleepers, 1);
                while (atomic_load(&sequence) == seen) pthread_cond_wait(&pool_wake, &pool_mutex);
                atomic_fetch_sub(&sleepers, 1);
                pthread_mutex_unlock(&pool_mutex);
                polls = 0;
                continue;
            }
            CPU_RELAX();
            if (polls % YIELD_EVERY == 0) sched_yield();
        }
        // Read the job, then check the sequence did not move meanwhile (else the fields may be torn).
        nibble_task_fn fn = atomic_load_explicit(&job_fn, memory_order_relaxed);
        void *context = atomic_load_explicit(&job_context, memory_order_relaxed);
        size_t tasks = atomic_load_explicit(&job_tasks, memory_order_relaxed);
        size_t helpers = atomic_load_explicit(&job_helpers, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&sequence, memory_order_relaxed) != now) continue;
        seen = now;
        if (start.index < helpers) run_tasks((uint32_t)(now >> 1), fn, context, tasks);
    }
    return NULL;
}

/// Starts workers until `count` exist; returns how many do.
static size_t ensure_workers(size_t count) {
    if (count > MAX_WORKERS) count = MAX_WORKERS;
    pthread_mutex_lock(&pool_mutex);
    while (started_workers < count) {
        worker_start *start = malloc(sizeof *start);
        if (!start) break;
        start->index = started_workers;
        start->seen = atomic_load(&sequence);  // stable: the caller holds job_mutex
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        int failed = pthread_create(&thread, &attributes, worker_main, start);
        pthread_attr_destroy(&attributes);
        if (failed) {
            free(start);
            break;
        }
        started_workers++;
    }
    size_t available = started_workers;
    pthread_mutex_unlock(&pool_mutex);
    return available;
}

void nibble_pool_run(size_t threads, size_t tasks, nibble_task_fn fn, void *context) {
    if (tasks == 0) return;
    if (threads <= 1 || tasks == 1 || tasks > 0xFFFFFFFFu || pthread_mutex_trylock(&job_mutex) != 0) {
        for (size_t t = 0; t < tasks; t++) fn(context, t);
        return;
    }
    size_t helpers = (threads < tasks ? threads : tasks) - 1;
    ensure_workers(helpers);

    unsigned long previous = atomic_load_explicit(&sequence, memory_order_relaxed);
    unsigned long next = previous + 2;
    uint32_t id = (uint32_t)(next >> 1);
    atomic_store_explicit(&sequence, previous + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&job_fn, fn, memory_order_relaxed);
    atomic_store_explicit(&job_context, context, memory_order_relaxed);
    atomic_store_explicit(&job_tasks, tasks, memory_order_relaxed);
    atomic_store_explicit(&job_helpers, helpers, memory_order_relaxed);
    atomic_store_explicit(&unfinished, tasks, memory_order_relaxed);
    atomic_store_explicit(&claim, (uint64_t)id << 32, memory_order_relaxed);
    // Sequentially consistent, paired with a worker's sleepers increment then sequence load: either the
    // worker sees the new job, or this thread sees the sleeper and wakes it.
    atomic_store(&sequence, next);
    if (atomic_load(&sleepers) > 0) {
        pthread_mutex_lock(&pool_mutex);
        pthread_cond_broadcast(&pool_wake);
        pthread_mutex_unlock(&pool_mutex);
    }
    run_tasks(id, fn, context, tasks);
    unsigned polls = 0;
    while (atomic_load_explicit(&unfinished, memory_order_acquire) != 0) {
        CPU_RELAX();
        // A descheduled worker holds a task: let it have this core rather than burning it.
        if (++polls % 64 == 0) sched_yield();
    }
    pthread_mutex_unlock(&job_mutex);
}
