#pragma once
// The library's only source of threads: a persistent pool and parallel_for over it.
//
// - The thread count comes from set_num_threads(n), else the IMBDEF_NUM_THREADS environment
//   variable, else the hardware concurrency.
// - The calling thread takes part, so a pool of n threads starts n - 1 workers.
// - A parallel_for issued from inside another runs serially on the calling thread: nesting never
//   multiplies threads (the same rule keeps Eigen single-threaded inside our tasks; see eigen.hpp).
// - Work is split into contiguous, statically assigned chunks whose bounds depend only on the
//   range, the grain and the thread count, and dispatch allocates nothing.

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "error.hpp"
#include "shape.hpp"

namespace imbdef::core {

namespace detail {
inline thread_local bool inside_parallel_region = false;
}

class thread_pool {
public:
    explicit thread_pool(int threads) : threads_(threads) {
        IMBDEF_REQUIRE(threads >= 1, "thread_pool", "at least 1 thread", std::to_string(threads));
        workers_.reserve(static_cast<std::size_t>(threads - 1));
        for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
    }
    thread_pool(const thread_pool&) = delete;
    thread_pool& operator=(const thread_pool&) = delete;
    ~thread_pool() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        for (auto& w : workers_) w.join();
    }

    int size() const noexcept { return threads_; }

    // Calls fn(task) for every task in [0, tasks), spread over the pool; returns when all are
    // done. The first exception thrown by a task is rethrown here after the others finish.
    template <class Fn>
    void run(index_t tasks, Fn& fn) {
        if (tasks <= 0) return;
        if (tasks == 1 || threads_ == 1 || detail::inside_parallel_region) {
            const bool outer = detail::inside_parallel_region;
            detail::inside_parallel_region = true;
            try {
                for (index_t t = 0; t < tasks; ++t) fn(t);
            } catch (...) {
                detail::inside_parallel_region = outer;
                throw;
            }
            detail::inside_parallel_region = outer;
            return;
        }
        // One job at a time from different callers. Every worker must sign off a job before run()
        // returns, so no worker can still be reading it when the next one is posted.
        std::lock_guard serial(submit_mutex_);
        {
            std::lock_guard lock(mutex_);
            job_ = {&invoke<Fn>, &fn, tasks};
            next_task_.store(0, std::memory_order_relaxed);
            remaining_ = tasks;
            pending_workers_ = static_cast<int>(workers_.size());
            error_ = nullptr;
            ++generation_;
        }
        wake_.notify_all();
        work_on_job();
        std::unique_lock lock(mutex_);
        done_.wait(lock, [this] { return remaining_ == 0 && pending_workers_ == 0; });
        if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
    }

private:
    struct job {
        void (*call)(void*, index_t) = nullptr;
        void* fn = nullptr;
        index_t tasks = 0;
    };

    template <class Fn>
    static void invoke(void* fn, index_t task) {
        (*static_cast<Fn*>(fn))(task);
    }

    void work_on_job() {
        const bool outer = detail::inside_parallel_region;
        detail::inside_parallel_region = true;
        index_t finished = 0;
        for (;;) {
            const index_t t = next_task_.fetch_add(1, std::memory_order_relaxed);
            if (t >= job_.tasks) break;
            try {
                job_.call(job_.fn, t);
            } catch (...) {
                std::lock_guard lock(mutex_);
                if (!error_) error_ = std::current_exception();
            }
            ++finished;
        }
        detail::inside_parallel_region = outer;
        if (finished) {
            std::lock_guard lock(mutex_);
            remaining_ -= finished;
        }
    }

    void worker_loop() {
        std::size_t seen = 0;
        for (;;) {
            {
                std::unique_lock lock(mutex_);
                wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
                if (stopping_) return;
                seen = generation_;
            }
            work_on_job();
            {
                std::lock_guard lock(mutex_);
                --pending_workers_;
            }
            done_.notify_all();
        }
    }

    int threads_;
    std::vector<std::thread> workers_;
    std::mutex submit_mutex_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable done_;
    job job_{};
    std::atomic<index_t> next_task_{0};
    index_t remaining_ = 0;
    int pending_workers_ = 0;  // workers that have not yet finished with the current job
    std::size_t generation_ = 0;
    bool stopping_ = false;
    std::exception_ptr error_;
};

// Threads requested by IMBDEF_NUM_THREADS, or the hardware concurrency when it is unset.
inline int default_num_threads() {
    if (const char* env = std::getenv("IMBDEF_NUM_THREADS"); env && *env) {
        char* end = nullptr;
        const long n = std::strtol(env, &end, 10);
        IMBDEF_REQUIRE(*end == '\0' && n >= 1 && n <= 4096, "environment variable IMBDEF_NUM_THREADS",
                       "an integer in [1, 4096]", std::string("'") + env + "'");
        return static_cast<int>(n);
    }
    return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

namespace detail {
inline std::unique_ptr<thread_pool>& global_pool_slot() {
    static std::unique_ptr<thread_pool> pool;
    return pool;
}
inline std::mutex& global_pool_mutex() {
    static std::mutex m;
    return m;
}
}  // namespace detail

// The process-wide pool, created on first use.
inline thread_pool& global_pool() {
    std::lock_guard lock(detail::global_pool_mutex());
    auto& slot = detail::global_pool_slot();
    if (!slot) slot = std::make_unique<thread_pool>(default_num_threads());
    return *slot;
}

inline int num_threads() { return global_pool().size(); }

// Replaces the global pool. Must not run while a parallel_for is in flight.
inline void set_num_threads(int threads) {
    IMBDEF_REQUIRE(threads >= 1, "set_num_threads", "at least 1 thread", std::to_string(threads));
    std::lock_guard lock(detail::global_pool_mutex());
    auto& slot = detail::global_pool_slot();
    if (slot && slot->size() == threads) return;
    slot.reset();
    slot = std::make_unique<thread_pool>(threads);
}

// How many partial results a parallel reduction (a sum over samples, a weight gradient) splits
// into. A constant, not the thread count: the order of the floating-point additions, and so every
// result, is then the same with any IMBDEF_NUM_THREADS, which bit-exact resume relies on.
inline constexpr index_t reduction_partials = 8;

// Splits [begin, end) into at most num_threads() contiguous chunks of at least `grain` indices
// and calls fn(chunk_begin, chunk_end) for each, in parallel.
template <class Fn>
void parallel_for(index_t begin, index_t end, index_t grain, Fn&& fn) {
    const index_t n = end - begin;
    if (n <= 0) return;
    // Inside a parallel region (or a thread that runs its work serially, like the data loader's
    // worker) the pool is not touched at all, so set_num_threads on another thread cannot pull it
    // away underneath.
    if (detail::inside_parallel_region) {
        fn(begin, end);
        return;
    }
    grain = std::max<index_t>(grain, 1);
    thread_pool& pool = global_pool();
    const index_t chunks = std::min<index_t>(pool.size(), std::max<index_t>(1, n / grain));
    if (chunks <= 1) {
        fn(begin, end);
        return;
    }
    auto task = [&](index_t c) { fn(begin + n * c / chunks, begin + n * (c + 1) / chunks); };
    pool.run(chunks, task);
}

}  // namespace imbdef::core
