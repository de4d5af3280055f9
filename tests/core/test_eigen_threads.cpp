// Built with OpenMP and run with OMP_NUM_THREADS=2: Eigen would use two threads, but including
// imbdef's Eigen bridge pins it to one so it never competes with imbdef's own pool.
#include <doctest/doctest.h>

#include <omp.h>

#include <imbdef/core/eigen.hpp>

TEST_CASE("Eigen is single-threaded under imbdef even when built with OpenMP") {
    REQUIRE(omp_get_max_threads() >= 2);  // the environment would let Eigen go parallel
    CHECK(Eigen::nbThreads() == 1);
}
