// The arena: a repeated computation allocates nothing after its first run.
#include <doctest/doctest.h>

#include <cstdint>

#include <imbdef/core.hpp>

#include "../support/heap_counter.hpp"

using namespace imbdef::core;

namespace {
// A stand-in for one training step: scratch tensors of several sizes, some nested in a scope
// that is rewound, written and read so that nothing is optimised away.
double one_step(arena<cpu>& a, index_t scale) {
    auto x = a.allocate<float>({scale, 64});
    auto y = a.allocate<double>({scale * 3});
    for (index_t i = 0; i < x.numel(); ++i) x[i] = static_cast<float>(i % 7);
    double acc = 0;
    {
        const auto m = a.mark();
        auto tmp = a.allocate<float>({scale * 100});
        for (index_t i = 0; i < tmp.numel(); ++i) tmp[i] = 1.0f;
        for (index_t i = 0; i < tmp.numel(); ++i) acc += tmp[i];
        a.rewind(m);
    }
    for (index_t i = 0; i < y.numel(); ++i) y[i] = static_cast<double>(x[i]);
    for (index_t i = 0; i < y.numel(); ++i) acc += y[i];
    auto z = a.allocate<std::int32_t>({scale, 17});
    z[0] = 1;
    return acc + z[0];
}
}  // namespace

TEST_CASE("arena: steady state allocates nothing, neither device memory nor heap") {
    arena<cpu> a;  // starts empty, so the first cycle must grow it several times
    const double first = one_step(a, 50);
    CHECK(a.block_count() > 1);
    a.reset();
    CHECK(a.block_count() == 1);  // consolidated to the high-water size

    const auto device_before = memory_stats<cpu>::allocations.load();
    const auto heap_before = imbdef_test::heap_allocations();
    double results[5];
    for (double& r : results) {
        r = one_step(a, 50);
        a.reset();
    }
    const auto device_after = memory_stats<cpu>::allocations.load();
    const auto heap_after = imbdef_test::heap_allocations();
    CHECK(device_after == device_before);
    CHECK(heap_after == heap_before);
    for (double r : results) CHECK(r == first);
}

TEST_CASE("arena: views are 64-byte aligned and do not overlap") {
    arena<cpu> a(1024);
    auto p = a.allocate<char>({3});
    auto q = a.allocate<double>({5});
    auto r = a.allocate<float>({1000});  // larger than the first block: a new block
    for (auto* ptr : {static_cast<void*>(p.data()), static_cast<void*>(q.data()), static_cast<void*>(r.data())})
        CHECK(reinterpret_cast<std::uintptr_t>(ptr) % 64 == 0);
    CHECK(reinterpret_cast<char*>(q.data()) >= p.data() + 64);
    CHECK(a.used() == 64 + 64 + 4032);
}

TEST_CASE("arena: rewind reuses memory handed out after the marker") {
    arena<cpu> a(4096);
    auto keep = a.allocate<float>({16});
    const auto m = a.mark();
    auto t1 = a.allocate<float>({16});
    a.rewind(m);
    auto t2 = a.allocate<float>({16});
    CHECK(t1.data() == t2.data());
    CHECK(keep.data() != t2.data());
    CHECK(a.used() == 128);
}

TEST_CASE("arena: releases everything it allocated") {
    const auto live = memory_stats<cpu>::bytes_in_use.load();
    {
        arena<cpu> a;
        for (int i = 1; i < 10; ++i) (void)a.allocate<float>({i * 1000});
        arena<cpu> moved = std::move(a);
        CHECK(moved.capacity() > 0);
    }
    CHECK(memory_stats<cpu>::bytes_in_use.load() == live);
}

TEST_CASE("scratch_scope: nested scopes release in order; a repeated op allocates nothing") {
    auto op = [] {
        scratch_scope<cpu> outer;
        auto a = outer.allocate<float>({1000});
        a[0] = 1;
        {
            scratch_scope<cpu> inner;
            auto b = inner.allocate<double>({5000});
            b[0] = 2;
        }
        auto c = outer.allocate<float>({3000});
        c[0] = 3;
        return a[0] + c[0];
    };
    CHECK(op() == 4.0f);
    CHECK(thread_scratch<cpu>().used() == 0);  // the outermost scope reset the arena
    const auto device_before = memory_stats<cpu>::allocations.load();
    const auto heap_before = imbdef_test::heap_allocations();
    float sum = 0;
    for (int i = 0; i < 10; ++i) sum += op();
    const auto device_after = memory_stats<cpu>::allocations.load();
    const auto heap_after = imbdef_test::heap_allocations();
    CHECK(device_after == device_before);
    CHECK(heap_after == heap_before);
    CHECK(sum == 40.0f);
}
