#pragma once
// Zero-copy Eigen maps over CPU views, for the CPU backend's dense products.
//
// Threads: imbdef's pool (parallel.hpp) is the only source of parallelism. Should a program build
// Eigen with OpenMP, Eigen would start its own team inside each of our tasks; including this header
// pins Eigen to one thread at start-up so that never happens.

#include <string>

// GCC 12 at -march=native (AVX-512) reports false -Wmaybe-uninitialized warnings from inside
// Eigen's vectorised kernels; they are Eigen's, not ours.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <Eigen/Core>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include "error.hpp"
#include "tensor.hpp"

namespace imbdef::core {

template <class T>
using eigen_matrix = Eigen::Matrix<std::remove_const_t<T>, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using eigen_vector = Eigen::Matrix<std::remove_const_t<T>, Eigen::Dynamic, 1>;

template <class T>
using matrix_map = Eigen::Map<std::conditional_t<std::is_const_v<T>, const eigen_matrix<T>, eigen_matrix<T>>>;
template <class T>
using vector_map = Eigen::Map<std::conditional_t<std::is_const_v<T>, const eigen_vector<T>, eigen_vector<T>>>;

// The view's elements as a row-major rows x cols matrix.
template <class T>
matrix_map<T> as_matrix(view<T, cpu> v, index_t rows, index_t cols) {
    IMBDEF_REQUIRE(rows >= 0 && cols >= 0 && rows * cols == v.numel(), "as_matrix",
                   std::to_string(rows) + " x " + std::to_string(cols) + " = " + std::to_string(rows * cols) +
                       " elements",
                   std::to_string(v.numel()) + " elements in a view of shape " + v.shape().to_string());
    return matrix_map<T>(v.data(), rows, cols);
}

// A rank-2 view as the matrix of the same shape.
template <class T>
matrix_map<T> as_matrix(view<T, cpu> v) {
    IMBDEF_REQUIRE(v.rank() == 2, "as_matrix", "a rank-2 view", "shape " + v.shape().to_string());
    return as_matrix(v, v.size(0), v.size(1));
}

// All elements as a column vector.
template <class T>
vector_map<T> as_vector(view<T, cpu> v) {
    return vector_map<T>(v.data(), v.numel());
}

namespace detail {
inline const bool eigen_pinned_to_one_thread = (Eigen::setNbThreads(1), true);
}

}  // namespace imbdef::core
