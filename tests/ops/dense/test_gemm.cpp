// The GEMM core (ops/cpu/gemm.hpp) against the plain triple loop: edge tiles in every dimension,
// reductions longer than one block, strided (transposed) operands, alpha, accumulation and the
// empty reduction.

#include <doctest/doctest.h>

#include <imbdef/ops/cpu/gemm.hpp>

#include "dense_support.hpp"

using namespace dense_test;
namespace gemm = imbdef::ops::gemm;

namespace {

// C = alpha A B (+ C0) with A m x k given as (rs, cs) strides, B k x n likewise.
template <class T>
void check_matmul(index_t m, index_t n, index_t k, bool a_t, bool b_t, bool add, T alpha) {
    CAPTURE(m);
    CAPTURE(n);
    CAPTURE(k);
    CAPTURE(a_t);
    CAPTURE(b_t);
    CAPTURE(add);
    const tensor<T> a = normal<T>(shape{std::max<index_t>(1, m * k)}, 1);
    const tensor<T> b = normal<T>(shape{std::max<index_t>(1, k * n)}, 2);
    const tensor<T> c0 = normal<T>(shape{m * n}, 3);
    const index_t a_rs = a_t ? 1 : k, a_cs = a_t ? m : 1;
    const index_t b_rs = b_t ? 1 : n, b_cs = b_t ? k : 1;
    tensor<double> ref(shape{m * n});
    for (index_t i = 0; i < m; ++i)
        for (index_t j = 0; j < n; ++j) {
            double s = 0.0;
            for (index_t p = 0; p < k; ++p)
                s += static_cast<double>(a[i * a_rs + p * a_cs]) * static_cast<double>(b[p * b_rs + j * b_cs]);
            ref[i * n + j] = static_cast<double>(alpha) * s + (add ? static_cast<double>(c0[i * n + j]) : 0.0);
        }
    tensor<T> c = c0.clone();
    gemm::matmul<T>(m, n, k, alpha, a.data(), a_rs, a_cs, b.data(), b_rs, b_cs, c.data(), n, add);
    const double tol = sizeof(T) == 4 ? 2e-5 * std::sqrt(static_cast<double>(k) + 1.0) : 1e-13;
    CHECK(rel_error(c, ref) < tol);
}

}  // namespace

TEST_CASE_TEMPLATE("gemm::matmul equals the triple loop on edge tiles", T, float, double) {
    constexpr int mr = gemm::kernel_traits<T>::mr;
    constexpr int nr = gemm::kernel_traits<T>::nr;
    for (index_t m : {index_t{1}, index_t{mr - 1}, index_t{mr}, index_t{mr + 1}, index_t{2 * mr + 3}})
        for (index_t n : {index_t{1}, index_t{nr - 1}, index_t{nr}, index_t{2 * nr + 5}})
            for (index_t k : {index_t{1}, index_t{17}}) check_matmul<T>(m, n, k, false, false, false, T(1));
}

TEST_CASE_TEMPLATE("gemm::matmul blocks long reductions and many rows", T, float, double) {
    const auto bl = gemm::default_blocking<T>();
    check_matmul<T>(bl.mc + 9, 45, bl.kc + 37, false, false, false, T(1));
    check_matmul<T>(30, bl.nc + 70, 2 * bl.kc + 1, false, false, true, T(0.5));
}

TEST_CASE_TEMPLATE("gemm::matmul reads transposed operands, scales and accumulates", T, float, double) {
    for (bool a_t : {false, true})
        for (bool b_t : {false, true})
            for (bool add : {false, true}) check_matmul<T>(23, 37, 29, a_t, b_t, add, T(-0.75));
}

TEST_CASE_TEMPLATE("gemm::matmul with an empty reduction writes zeros, or leaves C when adding", T, float, double) {
    const tensor<T> c0 = normal<T>(shape{6 * 5}, 4);
    tensor<T> c = c0.clone();
    gemm::matmul<T>(6, 5, 0, T(1), static_cast<const T*>(nullptr), 0, 1, static_cast<const T*>(nullptr), 5, 1, c.data(),
                    5, true);
    for (index_t i = 0; i < c.numel(); ++i) CHECK(c[i] == c0[i]);
    gemm::matmul<T>(6, 5, 0, T(1), static_cast<const T*>(nullptr), 0, 1, static_cast<const T*>(nullptr), 5, 1, c.data(),
                    5, false);
    for (index_t i = 0; i < c.numel(); ++i) CHECK(c[i] == T(0));
}

TEST_CASE("gemm::micro_kernel writes segmented tiles and nothing else") {
    using T = float;
    constexpr int mr = gemm::kernel_traits<T>::mr;
    constexpr int nr = gemm::kernel_traits<T>::nr;
    const index_t kc = 5, ldc = 100;
    tensor<T> a(shape{kc * mr}), b(shape{kc * nr});
    for (index_t i = 0; i < a.numel(); ++i) a[i] = static_cast<T>(i % 7) - 3;
    for (index_t i = 0; i < b.numel(); ++i) b[i] = static_cast<T>(i % 5) - 2;
    tensor<T> c(shape{mr * ldc}, T(-7));
    gemm::c_tile<T> t;
    t.ptr = c.data();
    t.ldc = ldc;
    t.seg[t.nseg++] = {0, 3, 10};         // lanes 0..2 -> columns 10..12
    t.seg[t.nseg++] = {5, nr - 12, 40};   // lanes 5..nr-8 -> columns 40..
    t.seg[t.nseg++] = {nr - 2, 2, 90};    // the last two lanes -> columns 90, 91
    gemm::micro_kernel<T>(mr, kc, a.data(), mr, b.data(), t, 0, false);
    for (index_t r = 0; r < mr; ++r)
        for (index_t col = 0; col < ldc; ++col) {
            int lane = -1;
            for (int g = 0; g < t.nseg; ++g)
                if (col >= t.seg[g].offset && col < t.seg[g].offset + t.seg[g].len)
                    lane = t.seg[g].lane + static_cast<int>(col - t.seg[g].offset);
            T expected = T(-7);
            if (lane >= 0) {
                expected = T(0);
                for (index_t p = 0; p < kc; ++p) expected += a[p * mr + r] * b[p * nr + lane];
            }
            CHECK(c[r * ldc + col] == expected);
        }
}
