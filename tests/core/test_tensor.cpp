// Shapes, tensors, views, copies and the error contract of the core layer.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <type_traits>

#include <imbdef/core.hpp>

using namespace imbdef::core;

namespace {
// The message of the imbdef::error thrown by fn, or "" when nothing is thrown.
template <class Fn>
std::string error_message(Fn&& fn) {
    try {
        fn();
    } catch (const imbdef::error& e) {
        return e.what();
    }
    return "";
}
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }
}  // namespace

TEST_CASE("error: where, expected and found make the message") {
    const imbdef::error e("ops::conv2d weight", "shape [8, 4, 3, 3]", "shape [8, 4, 5, 5]");
    CHECK(std::string(e.what()) == "ops::conv2d weight: expected shape [8, 4, 3, 3], found shape [8, 4, 5, 5]");
    CHECK(e.where() == "ops::conv2d weight");
    CHECK(e.expected() == "shape [8, 4, 3, 3]");
    CHECK(e.found() == "shape [8, 4, 5, 5]");
    CHECK(std::is_base_of_v<std::runtime_error, imbdef::error>);
}

TEST_CASE("shape: extents, strides, equality, printing") {
    const shape s{2, 3, 4, 5};
    CHECK(s.rank() == 4);
    CHECK(s.numel() == 120);
    CHECK(s.stride(0) == 60);
    CHECK(s.stride(3) == 1);
    CHECK(s.dim(-1) == 5);
    CHECK(s.dim(-4) == 2);
    CHECK(s.to_string() == "[2, 3, 4, 5]");
    CHECK(s == shape{2, 3, 4, 5});
    CHECK_FALSE(s == shape{2, 3, 4});
    CHECK(shape{}.numel() == 1);  // a scalar
    CHECK(shape{3, 0}.numel() == 0);
    CHECK(contains(error_message([&] { (void)s.dim(4); }), "shape::dim"));
    CHECK(contains(error_message([] { shape{1, 2, 3, 4, 5, 6, 7}; }), "rank at most 6"));
    CHECK(contains(error_message([] { shape{2, -1}; }), "extent -1 on axis 1"));
}

TEST_CASE("tensor: zero-filled, 64-byte aligned, row-major") {
    tensor<float> t({3, 5, 7});
    CHECK(t.numel() == 105);
    CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % 64 == 0);
    for (float v : t) CHECK(v == 0.0f);
    t(1, 2, 3) = 42.0f;
    CHECK(t[1 * 35 + 2 * 7 + 3] == 42.0f);
    CHECK(t.view()(1, 2, 3) == 42.0f);
}

TEST_CASE("tensor: construction from values checks the count") {
    tensor<double> t({2, 2}, {1.0, 2.0, 3.0, 4.0});
    CHECK(t(1, 0) == 3.0);
    const std::string msg = error_message([] { tensor<double> bad({2, 2}, {1.0, 2.0, 3.0}); });
    CHECK(contains(msg, "4 values for shape [2, 2]"));
    CHECK(contains(msg, "found 3 values"));
}

TEST_CASE("tensor: moves transfer ownership, clone copies") {
    tensor<int> a({4}, 7);
    const int* p = a.data();
    tensor<int> b = std::move(a);
    CHECK(b.data() == p);
    CHECK(a.data() == nullptr);  // NOLINT(bugprone-use-after-move): moved-from state is specified
    CHECK(a.empty());            // moved-from: shape [0], no storage
    CHECK(view<float>().empty());
    CHECK(tensor<float>().shape() == shape::none());
    tensor<int> c = b.clone();
    CHECK(c.data() != b.data());
    c[0] = 1;
    CHECK(b[0] == 7);
    static_assert(!std::is_copy_constructible_v<tensor<int>>, "copies are explicit: clone() or to<Device>()");
}

TEST_CASE("tensor: reshape keeps elements and rejects a different count, naming both shapes") {
    tensor<float> t({2, 6});
    t.reshape({3, 4});
    CHECK(t.shape() == shape{3, 4});
    const std::string msg = error_message([&] { t.reshape({5, 5}); });
    CHECK(contains(msg, "tensor::reshape"));
    CHECK(contains(msg, "[3, 4]"));
    CHECK(contains(msg, "[5, 5]"));
}

TEST_CASE("view: slices, reshapes, const conversion") {
    tensor<float> t({2, 3, 4});
    for (index_t i = 0; i < t.numel(); ++i) t[i] = static_cast<float>(i);
    view<float> v = t.view();
    view<float> s = v.slice(1);
    CHECK(s.shape() == shape{3, 4});
    CHECK(s(0, 0) == 12.0f);
    s(2, 3) = -1.0f;
    CHECK(t(1, 2, 3) == -1.0f);
    const_view<float> cv = v;  // mutable -> const is implicit
    CHECK(cv.reshaped({6, 4})(3, 0) == 12.0f);
    static_assert(!std::is_convertible_v<const_view<float>, view<float>>, "const never becomes mutable");
    static_assert(std::is_trivially_copyable_v<view<float>>, "views are kernel arguments");
    CHECK(contains(error_message([&] { (void)v.slice(2); }), "view::slice"));
    CHECK(contains(error_message([&] { (void)v.reshaped({5}); }), "[5] with 5 elements"));
}

TEST_CASE("copy: same-device copy and a shape mismatch that names both shapes") {
    tensor<float> a({2, 3}, 1.5f);
    tensor<float> b({2, 3});
    copy(a.cview(), b.view());
    CHECK(b(1, 2) == 1.5f);
    tensor<float> c({3, 2});
    const std::string msg = error_message([&] { copy(a.cview(), c.view()); });
    CHECK(contains(msg, "copy from cpu to cpu"));
    CHECK(contains(msg, "[3, 2]"));
    CHECK(contains(msg, "[2, 3]"));
    tensor<float> d = a.to<cpu>();
    CHECK(d(0, 0) == 1.5f);
    CHECK(d.data() != a.data());
}

TEST_CASE("memory_stats: every CPU tensor allocation is counted and returned") {
    const auto before_live = memory_stats<cpu>::bytes_in_use.load();
    const auto before_count = memory_stats<cpu>::allocations.load();
    {
        tensor<double> t({100});
        CHECK(memory_stats<cpu>::allocations.load() == before_count + 1);
        CHECK(memory_stats<cpu>::bytes_in_use.load() == before_live + align_up(800));
    }
    CHECK(memory_stats<cpu>::bytes_in_use.load() == before_live);
}
