// The thread pool and parallel_for: coverage, determinism of chunking, nesting, exceptions,
// configuration, and allocation-free dispatch.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <imbdef/core.hpp>

#include "../support/heap_counter.hpp"

using namespace imbdef::core;

TEST_CASE("parallel_for visits every index exactly once") {
    for (int threads : {1, 2, 3, 8}) {
        set_num_threads(threads);
        for (index_t n : {0, 1, 5, 1000, 12345}) {
            std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n));
            parallel_for(0, n, 7, [&](index_t lo, index_t hi) {
                for (index_t i = lo; i < hi; ++i) hits[static_cast<std::size_t>(i)].fetch_add(1);
            });
            for (auto& h : hits) CHECK(h.load() == 1);
        }
    }
}

TEST_CASE("chunks are contiguous, at least the grain, and fixed by (range, grain, threads)") {
    set_num_threads(4);
    std::mutex m;
    std::vector<std::pair<index_t, index_t>> chunks;
    parallel_for(10, 110, 20, [&](index_t lo, index_t hi) {
        std::lock_guard lock(m);
        chunks.emplace_back(lo, hi);
    });
    std::sort(chunks.begin(), chunks.end());
    REQUIRE(chunks.size() == 4);
    CHECK(chunks.front().first == 10);
    CHECK(chunks.back().second == 110);
    for (std::size_t i = 0; i < chunks.size(); ++i) {
        CHECK(chunks[i].second - chunks[i].first == 25);
        if (i) CHECK(chunks[i].first == chunks[i - 1].second);
    }
    // A range smaller than two grains runs as one chunk on the calling thread.
    std::thread::id who;
    parallel_for(0, 30, 20, [&](index_t, index_t) { who = std::this_thread::get_id(); });
    CHECK(who == std::this_thread::get_id());
}

TEST_CASE("a nested parallel_for runs serially inside its task: no deadlock, no extra threads") {
    set_num_threads(2);
    std::atomic<int> total{0};
    std::atomic<int> nested_on_other_thread{0};
    parallel_for(0, 2, 1, [&](index_t, index_t) {
        const auto outer = std::this_thread::get_id();
        parallel_for(0, 100, 1, [&](index_t lo, index_t hi) {
            if (std::this_thread::get_id() != outer) nested_on_other_thread.fetch_add(1);
            total.fetch_add(static_cast<int>(hi - lo));
        });
    });
    CHECK(total.load() == 200);
    CHECK(nested_on_other_thread.load() == 0);
}

TEST_CASE("an exception in a task reaches the caller after the others finish") {
    set_num_threads(2);
    std::atomic<int> finished{0};
    CHECK_THROWS_WITH_AS(parallel_for(0, 100, 1,
                                      [&](index_t lo, index_t) {
                                          if (lo == 0) throw std::runtime_error("task failed");
                                          finished.fetch_add(1);
                                      }),
                         "task failed", std::runtime_error);
    CHECK(finished.load() == 1);
    // The pool is still usable.
    std::atomic<int> ok{0};
    parallel_for(0, 10, 1, [&](index_t lo, index_t hi) { ok.fetch_add(static_cast<int>(hi - lo)); });
    CHECK(ok.load() == 10);
}

TEST_CASE("dispatch allocates nothing once the pool exists") {
    set_num_threads(2);
    std::vector<double> data(4096, 1.0);
    parallel_for(0, 4096, 64, [&](index_t lo, index_t hi) {
        for (index_t i = lo; i < hi; ++i) data[static_cast<std::size_t>(i)] *= 2;
    });
    const auto before = imbdef_test::heap_allocations();
    for (int rep = 0; rep < 200; ++rep)
        parallel_for(0, 4096, 64, [&](index_t lo, index_t hi) {
            for (index_t i = lo; i < hi; ++i) data[static_cast<std::size_t>(i)] += 1;
        });
    const auto after = imbdef_test::heap_allocations();
    CHECK(after == before);
    CHECK(data[17] == 202.0);
}

TEST_CASE("many small jobs in a row complete (no lost wake-ups)") {
    set_num_threads(3);
    std::atomic<long> sum{0};
    for (int rep = 0; rep < 20000; ++rep)
        parallel_for(0, 3, 1, [&](index_t lo, index_t hi) { sum.fetch_add(hi - lo); });
    CHECK(sum.load() == 60000);
}

TEST_CASE("thread count: API, IMBDEF_NUM_THREADS, and a clear error for bad values") {
    set_num_threads(3);
    CHECK(num_threads() == 3);
    CHECK_THROWS_AS(set_num_threads(0), imbdef::error);

    ::setenv("IMBDEF_NUM_THREADS", "5", 1);
    CHECK(default_num_threads() == 5);
    ::setenv("IMBDEF_NUM_THREADS", "two", 1);
    try {
        (void)default_num_threads();
        FAIL("expected an error");
    } catch (const imbdef::error& e) {
        CHECK(std::string(e.what()) ==
              "environment variable IMBDEF_NUM_THREADS: expected an integer in [1, 4096], found 'two'");
    }
    ::setenv("IMBDEF_NUM_THREADS", "0", 1);
    CHECK_THROWS_AS((void)default_num_threads(), imbdef::error);
    ::unsetenv("IMBDEF_NUM_THREADS");
    CHECK(default_num_threads() >= 1);
}
