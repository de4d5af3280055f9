// The CUDA backend against the CPU on the same inputs: storage and copies, Philox fills (bit for
// bit), and ops::leaky_relu (bit for bit, every gradient mode). Without a GPU the executable says
// so and exits with 77, which ctest reports as skipped.

#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <imbdef/cuda.hpp>

using namespace imbdef;
using core::cpu;
using core::grad_mode;
using core::index_t;
using core::tensor;

namespace {

template <class T>
tensor<T> normal_tensor(const core::shape& s, std::uint64_t stream) {
    tensor<T> t(s, core::uninitialized);
    core::fill_normal(t.view(), core::philox_stream{0xc0da, stream});
    return t;
}

// Index of the first element whose bits differ, or -1 when the tensors are identical.
template <class T>
index_t first_difference(const tensor<T>& a, const tensor<T>& b) {
    if (!(a.shape() == b.shape())) return 0;
    for (index_t i = 0; i < a.numel(); ++i)
        if (std::memcmp(&a[i], &b[i], sizeof(T)) != 0) return i;
    return -1;
}

template <class T>
tensor<T> to_cpu(const tensor<T, core::cuda>& t) {
    return t.template to<cpu>();
}

template <class Call>
std::string message_of(Call&& call) {
    try {
        call();
    } catch (const imbdef::error& e) {
        return e.what();
    }
    return "no imbdef::error";
}

const core::shape shapes[] = {core::shape{0}, core::shape{}, core::shape{1}, core::shape{7},
                              core::shape{3, 5, 17}, core::shape{2, 3, 61, 67}};

}  // namespace

TEST_CASE("a GPU is present and errors name the call") {
    CHECK(cuda::device_count() > 0);
    const std::string msg = message_of([] { IMBDEF_CUDA_CHECK(cudaErrorInvalidValue); });
    CHECK(msg.find("cudaErrorInvalidValue at ") != std::string::npos);
    CHECK(msg.find("test_cuda.cu:") != std::string::npos);
    CHECK(msg.find("expected cudaSuccess, found cudaErrorInvalidValue (") != std::string::npos);
}

TEST_CASE_TEMPLATE("tensors round-trip cpu -> cuda -> cpu", T, float, double) {
    for (const auto& s : shapes) {
        CAPTURE(s.to_string());
        const tensor<T> host = normal_tensor<T>(s, 1);

        const tensor<T, core::cuda> dev = host.template to<core::cuda>();
        CHECK(dev.shape() == s);
        CHECK(first_difference(to_cpu(dev), host) == -1);
        CHECK(first_difference(to_cpu(dev.clone()), host) == -1);

        tensor<T, core::cuda> dev2(s);
        core::copy(dev.cview(), dev2.view());
        tensor<T> back(s);
        core::copy(dev2.cview(), back.view());
        CHECK(first_difference(back, host) == -1);

        const tensor<T> zeros = to_cpu(tensor<T, core::cuda>(s));
        index_t nonzero = 0;
        for (const T v : zeros) nonzero += v != T(0);
        CHECK(nonzero == 0);
    }
}

TEST_CASE("cuda allocations are counted and returned") {
    using stats = core::memory_stats<core::cuda>;
    const std::size_t in_use = stats::bytes_in_use.load();
    const std::size_t count = stats::allocations.load();
    {
        const tensor<float, core::cuda> a(core::shape{1000});
        const tensor<double, core::cuda> b(core::shape{3, 3});
        CHECK(stats::allocations.load() == count + 2);
        CHECK(stats::bytes_in_use.load() == in_use + core::align_up(4000) + core::align_up(72));
        CHECK(stats::peak_bytes.load() >= stats::bytes_in_use.load());
    }
    CHECK(stats::bytes_in_use.load() == in_use);
}

TEST_CASE("a failed cuda allocation throws and leaves the runtime usable") {
    const std::string msg = message_of([] { tensor<float, core::cuda> huge(core::shape{index_t{1} << 50}); });
    CHECK(msg.find("device_memory<core::cuda>::allocate") != std::string::npos);
    CHECK(msg.find("bytes on the GPU") != std::string::npos);
    const tensor<float> host = normal_tensor<float>(core::shape{16}, 2);
    CHECK(first_difference(to_cpu(host.to<core::cuda>()), host) == -1);
}

TEST_CASE("copies between devices check shapes") {
    const tensor<float> host(core::shape{2, 3});
    tensor<float, core::cuda> dev(core::shape{3, 2});
    tensor<float> host_out(core::shape{3, 2});

    CHECK(message_of([&] { core::copy(host.cview(), dev.view()); }) ==
          "copy from cpu to cuda (destination vs source): expected shape [3, 2], found shape [2, 3]");
    const tensor<float, core::cuda> dev_src(core::shape{6});
    CHECK(message_of([&] { core::copy(dev_src.cview(), host_out.view()); }) ==
          "copy from cuda to cpu (destination vs source): expected shape [3, 2], found shape [6]");
    CHECK(message_of([&] { core::copy(dev_src.cview(), dev.view()); }) ==
          "copy from cuda to cuda (destination vs source): expected shape [3, 2], found shape [6]");
}

TEST_CASE_TEMPLATE("Philox fills on cuda equal the CPU fills bit for bit", T, float, double) {
    const std::uint64_t offsets[] = {0, 1, 2, 3, 5, 6, 7, 1001, (std::uint64_t{1} << 32) + 3, (std::uint64_t{1} << 40) + 2};
    const index_t sizes[] = {0, 1, 2, 3, 4, 5, 9, 1000, 70001};
    const core::philox_stream streams[] = {{0x1234, 0}, {0xfeedfacecafebeef, 7}};
    for (const auto& rng : streams) {
        for (const std::uint64_t offset : offsets) {
            for (const index_t n : sizes) {
                CAPTURE(rng.seed);
                CAPTURE(offset);
                CAPTURE(n);
                const core::shape s{n};
                tensor<T> host(s);
                tensor<T, core::cuda> dev(s);

                CHECK(core::fill_uniform(dev.view(), rng, offset) == core::fill_uniform(host.view(), rng, offset));
                CHECK(first_difference(to_cpu(dev), host) == -1);
                core::fill_uniform(host.view(), rng, offset, T(-2), T(3));
                core::fill_uniform(dev.view(), rng, offset, T(-2), T(3));
                CHECK(first_difference(to_cpu(dev), host) == -1);

                CHECK(core::fill_normal(dev.view(), rng, offset) == core::fill_normal(host.view(), rng, offset));
                CHECK(first_difference(to_cpu(dev), host) == -1);
                core::fill_normal(host.view(), rng, offset, T(0.5), T(2.5));
                core::fill_normal(dev.view(), rng, offset, T(0.5), T(2.5));
                CHECK(first_difference(to_cpu(dev), host) == -1);
            }
        }
    }
}

TEST_CASE_TEMPLATE("leaky_relu on cuda equals the CPU bit for bit", T, float, double) {
    const ops::leaky_relu_params custom{.slope = 0.1, .gain = 1.7};
    for (const auto& params : {ops::leaky_relu_params{}, custom}) {
        for (const auto& s : shapes) {
            CAPTURE(s.to_string());
            tensor<T> x = normal_tensor<T>(s, 3);
            if (x.numel() > 2) {
                x[0] = T(0);
                x[1] = -T(0);
            }
            const tensor<T> dy = normal_tensor<T>(s, 4);
            const tensor<T> before = normal_tensor<T>(s, 5);
            const tensor<T, core::cuda> x_dev = x.template to<core::cuda>();
            const tensor<T, core::cuda> dy_dev = dy.template to<core::cuda>();

            tensor<T> y(s);
            tensor<T, core::cuda> y_dev(s);
            ops::leaky_relu(x, y.view(), params);
            ops::leaky_relu(x_dev, y_dev.view(), params);
            CHECK(first_difference(to_cpu(y_dev), y) == -1);

            tensor<T, core::cuda> inplace = x_dev.clone();
            ops::leaky_relu(inplace, inplace.view(), params);
            CHECK(first_difference(to_cpu(inplace), y) == -1);

            for (const grad_mode mode : {grad_mode::assign, grad_mode::accumulate, grad_mode::none}) {
                CAPTURE(core::to_string(mode));
                tensor<T> dx = before.clone();
                tensor<T, core::cuda> dx_dev = before.template to<core::cuda>();
                ops::leaky_relu_backward(x, dy, dx.view(), mode, params);
                ops::leaky_relu_backward(x_dev, dy_dev, dx_dev.view(), mode, params);
                CHECK(first_difference(to_cpu(dx_dev), dx) == -1);
            }
        }
    }
}

TEST_CASE("leaky_relu on cuda checks shapes before launching") {
    const tensor<float, core::cuda> x(core::shape{2, 3});
    tensor<float, core::cuda> y(core::shape{3, 2});
    CHECK(message_of([&] { ops::leaky_relu(x, y.view()); }) ==
          "ops::leaky_relu: expected y of shape [2, 3] (the shape of x), found y of shape [3, 2]");
    CHECK_NOTHROW(ops::leaky_relu_backward(x, x, core::view<float, core::cuda>{}, grad_mode::none));
}

// More elements than the largest grid has threads, so every grid-stride loop takes a second turn.
TEST_CASE("kernels cover more elements than one grid has threads") {
    const index_t n = index_t{1 << 16} * cuda::threads_per_block + 12345;
    const core::shape s{n};
    const tensor<float> x = normal_tensor<float>(s, 6);
    tensor<float> y(s);
    tensor<float, core::cuda> y_dev(s);
    const tensor<float, core::cuda> x_dev = x.to<core::cuda>();
    ops::leaky_relu(x, y.view());
    ops::leaky_relu(x_dev, y_dev.view());
    CHECK(first_difference(to_cpu(y_dev), y) == -1);

    // A fill spanning 4 * (max grid) elements plus a tail: each thread loops over Philox blocks.
    const index_t m = 4 * n + 3;
    tensor<float> host(core::shape{m}, core::uninitialized);
    tensor<float, core::cuda> dev(core::shape{m}, core::uninitialized);
    core::fill_uniform(host.view(), core::philox_stream{9, 9}, 3);
    core::fill_uniform(dev.view(), core::philox_stream{9, 9}, 3);
    CHECK(first_difference(to_cpu(dev), host) == -1);
}

namespace {
// A doctest reporter that only records how many test cases pass the command line's filters, so
// the skip message can say what was skipped.
struct count_reporter : doctest::IReporter {
    static inline unsigned count = 0;
    explicit count_reporter(const doctest::ContextOptions&) {}
    void report_query(const doctest::QueryData& q) override {
        if (q.run_stats) count = q.run_stats->numTestCasesPassingFilters;
    }
    void test_run_start() override {}
    void test_run_end(const doctest::TestRunStats&) override {}
    void test_case_start(const doctest::TestCaseData&) override {}
    void test_case_reenter(const doctest::TestCaseData&) override {}
    void test_case_end(const doctest::CurrentTestCaseStats&) override {}
    void test_case_exception(const doctest::TestCaseException&) override {}
    void subcase_start(const doctest::SubcaseSignature&) override {}
    void subcase_end() override {}
    void log_assert(const doctest::AssertData&) override {}
    void log_message(const doctest::MessageData&) override {}
    void test_case_skipped(const doctest::TestCaseData&) override {}
};
}  // namespace
REGISTER_REPORTER("imbdef_count", 0, count_reporter);

int main(int argc, char** argv) {
    if (!cuda::device_available()) {
        // The command line's filters apply, so the number is what this invocation would have run.
        std::vector<const char*> args(argv, argv + argc);
        args.push_back("--dt-count");
        args.push_back("--dt-reporters=imbdef_count");
        doctest::Context counter(static_cast<int>(args.size()), args.data());
        counter.run();
        std::printf("no CUDA device: skipping %u CUDA tests\n", count_reporter::count);
        return 77;
    }
    doctest::Context context(argc, argv);
    return context.run();
}
