// Checkpoints: safetensors files with groups and metadata, validated on reading, written atomically.
#include <doctest/doctest.h>

#include <csignal>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <imbdef/train/adam.hpp>
#include <imbdef/train/checkpoint.hpp>

#include "../support/temp_dir.hpp"

using imbdef::test_support::temp_dir;

using namespace imbdef;
using namespace imbdef::train;
using core::index_t;
namespace fs = std::filesystem;

namespace {
std::vector<char> read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& p, const std::vector<char>& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A safetensors file from a header text and a data size (data bytes are 0x3f).
std::vector<char> raw_file(const std::string& header, std::size_t data_bytes, std::uint64_t declared_length = ~0ull) {
    const std::uint64_t n = declared_length == ~0ull ? header.size() : declared_length;
    std::string out(8, '\0');
    for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
    out += header;
    out.append(data_bytes, '\x3f');
    return {out.begin(), out.end()};
}

// A small generator-like network: parameters of several ranks (a scalar included) and buffers.
nn::parameter_layout generator_layout(index_t width = 64) {
    nn::parameter_layout layout;
    const nn::registry root(layout);
    const auto mapping = root.scope("mapping");
    mapping.scope("fc0").parameter("weight", {width, 32}, nn::initializer::normal(0, 1));
    mapping.scope("fc0").parameter("bias", {width}, nn::initializer::uniform(-1, 1));
    mapping.buffer("w_avg", {32}, nn::initializer::normal(0, 1));
    const auto l0 = root.scope("synthesis").scope("L0");
    l0.parameter("weight", {4, 3, 3, 3}, nn::initializer::normal(0, 0.5));
    l0.parameter("gain", {}, nn::initializer::constant(0.25));
    l0.buffer("magnitude_ema", {}, nn::initializer::constant(1.0));
    return layout;
}

nn::parameter_layout discriminator_layout() {
    nn::parameter_layout layout;
    const nn::registry root(layout);
    root.scope("b32").parameter("conv0.weight", {8, 3, 3, 3}, nn::initializer::normal(0, 1));
    root.scope("b32").parameter("conv0.bias", {8}, nn::initializer::normal(0, 1));
    root.scope("epilogue").parameter("out.weight", {1, 8}, nn::initializer::normal(0, 1));
    return layout;
}

template <class T>
bool same_bits(const core::tensor<T>& a, const core::tensor<T>& b) {
    return a.numel() == b.numel() && std::memcmp(a.data(), b.data(), a.bytes()) == 0;
}
}  // namespace

TEST_CASE("a checkpoint round-trips groups, optimiser state and metadata bit for bit") {
    temp_dir dir;
    const auto gl = generator_layout();
    const auto dl = discriminator_layout();
    nn::parameter_store<float> g(gl), g_ema(gl);
    nn::parameter_store<double> d(dl);
    g.initialize(1);
    g_ema.initialize(2);
    d.initialize(3);
    // Values that a text format would not reproduce exactly.
    g.parameters()[1] = 1.0f / 3.0f;
    g.parameters()[2] = -0.0f;
    g.parameters()[3] = 1e-42f;  // subnormal
    adam<float> g_opt(gl.size(nn::tensor_role::parameter), adam_options::stylegan(0.0025));
    // Gradients of the declared tensors only: alignment gaps get zero gradients and stay zero.
    nn::parameter_store<float> grad(gl);
    for (const auto& e : gl.entries())
        if (e.role == nn::tensor_role::parameter)
            for (float& x : grad.views()[e.name]) x = 0.125f;
    g_opt.step(g.parameters().view(), grad.parameters().cview());

    const nlohmann::json meta = {{"preset", "tiny"},
                                 {"policies", {{"schedule", "cosine_ramp"}, {"blend", "sigmoid"}}},
                                 {"step", 1234},
                                 {"images_seen", 9872},
                                 {"rng", {{"z", 77}, {"augment", 1ull << 40}}},
                                 {"ada_p", 0.0123}};
    checkpoint_writer w;
    w.add_group("G", g);
    w.add_group("G_ema", g_ema);
    w.add_group("D", d);
    w.add_group("G_opt.m", gl, nn::tensor_role::parameter, g_opt.first_moment().cview());
    w.add_group("G_opt.v", gl, nn::tensor_role::parameter, g_opt.second_moment().cview());
    w.set_json_metadata(meta);
    w.set_metadata("format", "imbdef-checkpoint");
    const fs::path file = dir.path / "ckpt.safetensors";
    w.write(file);

    checkpoint_reader r(file);
    CHECK(r.json_metadata() == meta);
    CHECK(r.metadata().at("format") == "imbdef-checkpoint");
    CHECK(r.tensors().size() == 6 + 6 + 3 + 4 + 4);
    CHECK(r.has_group("G"));
    CHECK(r.has_group("G_opt.m"));
    CHECK_FALSE(r.has_group("D_opt.m"));
    const tensor_record* rec = r.find("G.synthesis.L0.gain");
    REQUIRE(rec != nullptr);
    CHECK(rec->shape.empty());
    CHECK(rec->dtype == "F32");
    CHECK(r.find("D.b32.conv0.weight")->shape_string() == "[8, 3, 3, 3]");

    nn::parameter_store<float> g2(gl), g_ema2(gl);
    nn::parameter_store<double> d2(dl);
    adam<float> g_opt2(gl.size(nn::tensor_role::parameter), adam_options::stylegan(0.0025));
    r.load_group("G", g2);
    r.load_group("G_ema", g_ema2.views());
    r.load_group("D", d2);
    r.load_group("G_opt.m", gl, nn::tensor_role::parameter, g_opt2.first_moment().view());
    r.load_group("G_opt.v", gl, nn::tensor_role::parameter, g_opt2.second_moment().view());
    CHECK(same_bits(g.parameters(), g2.parameters()));
    CHECK(same_bits(g.buffers(), g2.buffers()));
    CHECK(same_bits(g_ema.parameters(), g_ema2.parameters()));
    CHECK(same_bits(d.parameters(), d2.parameters()));
    CHECK(same_bits(g_opt.first_moment(), g_opt2.first_moment()));
    CHECK(same_bits(g_opt.second_moment(), g_opt2.second_moment()));
    CHECK(std::signbit(g2.parameters()[2]));

    // Single tensors by name.
    const auto w_avg = r.read<float>("G.mapping.w_avg");
    CHECK(w_avg.shape() == core::shape{32});
    CHECK(std::memcmp(w_avg.data(), g.views()["mapping.w_avg"].data(), w_avg.bytes()) == 0);
    core::tensor<double> conv(core::shape{8, 3, 3, 3});
    r.read("D.b32.conv0.weight", conv.view());
    CHECK(conv[5] == d.views()["b32.conv0.weight"][5]);
}

TEST_CASE("the file layout is the safetensors format") {
    temp_dir dir;
    core::tensor<double> a(core::shape{2, 3}, 1.5);
    core::tensor<float> b(core::shape{3}, {1.0f, 2.0f, 3.0f});
    core::tensor<float> empty(core::shape{0, 4});
    checkpoint_writer w;
    w.add("b", b);
    w.add("a", a.cview());
    w.add("empty", empty);
    w.set_json_metadata({{"step", 1}});
    const fs::path file = dir.path / "x.safetensors";
    w.write(file);
    const auto bytes = read_bytes(file);

    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
    CHECK(n % 8 == 0);  // padded, so the data starts 8-byte aligned
    const std::string header(bytes.data() + 8, n);
    CHECK(header.front() == '{');
    const auto j = nlohmann::json::parse(header);
    CHECK(j["__metadata__"]["imbdef"] == "{\"step\":1}");
    // F64 data first, so every tensor is naturally aligned.
    CHECK(j["a"]["dtype"] == "F64");
    CHECK(j["a"]["shape"] == nlohmann::json::array({2, 3}));
    CHECK(j["a"]["data_offsets"] == nlohmann::json::array({0, 48}));
    CHECK(j["b"]["data_offsets"] == nlohmann::json::array({48, 60}));
    CHECK(j["empty"]["data_offsets"] == nlohmann::json::array({60, 60}));
    CHECK(bytes.size() == 8 + n + 60);
    float b1 = 0;
    std::memcpy(&b1, bytes.data() + 8 + n + 48 + 4, 4);
    CHECK(b1 == 2.0f);
}

TEST_CASE("loading names the first mismatch and leaves the destination untouched") {
    temp_dir dir;
    const fs::path file = dir.path / "ckpt.safetensors";
    const auto gl = generator_layout();
    nn::parameter_store<float> g(gl);
    g.initialize(5);
    checkpoint_writer w;
    w.add_group("G", g);
    w.write(file);
    checkpoint_reader r(file);
    const std::string where = "load group 'G' from checkpoint " + file.string();

    SUBCASE("a shape differs") {
        const auto wider = generator_layout(32);
        nn::parameter_store<float> s(wider);
        s.parameters().fill(7.0f);
        CHECK_THROWS_WITH_AS(r.load_group("G", s),
                             (where + ", tensor 'G.mapping.fc0.weight': expected shape [32, 32] (the layout's shape), "
                                      "found [64, 32] in the file")
                                 .c_str(),
                             imbdef::error);
        CHECK(s.parameters()[0] == 7.0f);
    }
    SUBCASE("the dtype differs") {
        nn::parameter_store<double> s(gl);
        CHECK_THROWS_WITH_AS(r.load_group("G", s), doctest::Contains("expected dtype F64 (the layout's type), found F32 in the file"),
                             imbdef::error);
    }
    SUBCASE("a tensor is missing") {
        auto more = generator_layout();
        nn::registry(more).scope("synthesis").scope("L1").parameter("weight", {2}, nn::initializer::zeros());
        nn::parameter_store<float> s(more);
        s.parameters().fill(7.0f);
        CHECK_THROWS_WITH_AS(r.load_group("G", s),
                             (where + ", tensor 'G.synthesis.L1.weight': expected the parameter 'synthesis.L1.weight' "
                                      "of shape [2] that the layout declares, found no such tensor in the file (the "
                                      "file's group 'G' has 6 tensor(s))")
                                 .c_str(),
                             imbdef::error);
        CHECK(s.parameters()[0] == 7.0f);
    }
    SUBCASE("the first of several mismatches, in layout order") {
        nn::parameter_layout l;
        const nn::registry root(l);
        root.scope("mapping").scope("fc0").parameter("weight", {64, 32}, nn::initializer::zeros());  // fine
        root.scope("mapping").scope("fc0").parameter("bias", {65}, nn::initializer::zeros());        // first problem
        root.scope("mapping").parameter("missing", {1}, nn::initializer::zeros());                    // second
        nn::parameter_store<float> s(l);
        CHECK_THROWS_WITH_AS(r.load_group("G", s), doctest::Contains("tensor 'G.mapping.fc0.bias': expected shape [65]"),
                             imbdef::error);
    }
    SUBCASE("the file has a tensor the layout does not declare") {
        nn::parameter_layout fewer;
        const nn::registry root(fewer);
        root.scope("mapping").scope("fc0").parameter("weight", {64, 32}, nn::initializer::zeros());
        nn::parameter_store<float> s(fewer);
        CHECK_THROWS_WITH_AS(r.load_group("G", s), doctest::Contains("found an undeclared tensor 'G.mapping.fc0.bias' [64]"),
                             imbdef::error);
    }
    SUBCASE("a group or tensor that is not there") {
        nn::parameter_store<float> s(gl);
        CHECK_THROWS_WITH_AS(r.load_group("G_ema", s), doctest::Contains("load group 'G_ema'"), imbdef::error);
        CHECK_THROWS_WITH_AS(r.read<float>("G.nope"), doctest::Contains("expected a tensor named 'G.nope', found no such tensor"),
                             imbdef::error);
        CHECK_THROWS_WITH_AS(r.read<double>("G.mapping.w_avg"), doctest::Contains("expected dtype F64, found F32 in the file"),
                             imbdef::error);
        CHECK_THROWS_WITH_AS(r.json_metadata(), doctest::Contains("expected imbdef's metadata entry"), imbdef::error);
    }
}

TEST_CASE("damaged files are refused with the file and the problem named") {
    temp_dir dir;
    const fs::path good_file = dir.path / "good.safetensors";
    {
        const auto gl = generator_layout();
        nn::parameter_store<float> g(gl);
        g.initialize(5);
        checkpoint_writer w;
        w.add_group("G", g);
        w.set_json_metadata({{"step", 3}});
        w.write(good_file);
    }
    const auto good = read_bytes(good_file);
    const fs::path bad = dir.path / "bad.safetensors";
    auto refused = [&](const std::vector<char>& bytes, const std::string& what) {
        write_bytes(bad, bytes);
        CHECK_THROWS_WITH_AS(checkpoint_reader{bad}, doctest::Contains(what.c_str()), imbdef::error);
        CHECK_THROWS_WITH_AS(checkpoint_reader{bad}, doctest::Contains(("checkpoint " + bad.string()).c_str()),
                             imbdef::error);
    };
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(good[static_cast<std::size_t>(i)]);

    SUBCASE("truncated anywhere") {
        refused({}, "expected at least 8 bytes (the header length), found 0 bytes");
        refused({good.begin(), good.begin() + 5}, "found 5 bytes: the file is truncated");
        refused({good.begin(), good.begin() + 8 + static_cast<std::ptrdiff_t>(n) / 2}, "expected a header length within the file");
        refused({good.begin(), good.begin() + 8 + static_cast<std::ptrdiff_t>(n) + 3}, "the file is truncated");
        refused({good.begin(), good.end() - 1}, "the file is truncated");
    }
    SUBCASE("missing file") {
        CHECK_THROWS_WITH_AS(checkpoint_reader(dir.path / "nope.safetensors"), doctest::Contains("expected a readable safetensors file"),
                             imbdef::error);
    }
    SUBCASE("garbage instead of a header") {
        auto bytes = good;
        for (std::size_t i = 8; i < 8 + n; ++i) bytes[i] = 'x';
        refused(bytes, "expected a JSON header beginning with '{'");
        refused(raw_file("{\"a\": {\"dtype\": \"F32\", ", 0), "expected a valid JSON header, found invalid JSON");
        refused(raw_file("{} trailing", 0), "invalid JSON");
        refused(raw_file("{\"a\":[]}", 0), "tensor 'a': expected an object with dtype, shape and data_offsets");
    }
    SUBCASE("a header length larger than the file") {
        auto bytes = good;
        bytes[6] = 1;  // + 2^48
        refused(bytes, "expected a header length within the file (at most");
        refused(raw_file("{}", 0, 1ull << 63), "a header length of 9223372036854775808 bytes");
    }
    SUBCASE("offsets, sizes, dtypes and metadata that do not add up") {
        const std::string t = R"("dtype":"F32","shape":[2])";
        refused(raw_file("{\"a\":{" + t + ",\"data_offsets\":[0,8]},\"b\":{" + t + ",\"data_offsets\":[4,12]}}", 12),
                "tensor 'b': expected data_offsets beginning at byte 8 (contiguous with the tensor before, no holes or overlaps), found [4, 12]");
        refused(raw_file("{\"a\":{" + t + ",\"data_offsets\":[0,8]},\"b\":{" + t + ",\"data_offsets\":[12,20]}}", 20),
                "expected data_offsets beginning at byte 8");
        refused(raw_file("{\"a\":{" + t + ",\"data_offsets\":[0,8]}}", 12), "found data ending at byte 8 (trailing bytes)");
        refused(raw_file("{\"a\":{" + t + ",\"data_offsets\":[0,12]}}", 12),
                "expected 8 data bytes (shape [2] of F32), found data_offsets [0, 12]");
        refused(raw_file(R"({"a":{"dtype":"F31","shape":[2],"data_offsets":[0,8]}})", 8),
                "expected a known safetensors dtype (F32, F64, F16, BF16, I64, ...), found 'F31'");
        refused(raw_file(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8), "a shape of non-negative integers");
        refused(raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8), "data_offsets [begin, end]");
        refused(raw_file(R"({"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8),
                "a shape whose byte count fits 64 bits");
        refused(raw_file(R"({"__metadata__":{"step":3}})", 0), "__metadata__ 'step': expected a string value, found number");
        refused(raw_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
                "expected unique names in the header, found 'a' twice");
    }
    SUBCASE("valid files from elsewhere are accepted") {
        // Other dtypes, no metadata, padding spaces, keys in any order.
        write_bytes(bad, raw_file(R"({"z":{"dtype":"BF16","shape":[3],"data_offsets":[8,14]},"y":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}   )", 14));
        checkpoint_reader r(bad);
        CHECK(r.tensors().size() == 2);
        CHECK(r.tensors()[0].name == "y");
        CHECK(r.metadata().empty());
        CHECK_THROWS_WITH_AS(r.read<float>("z"), doctest::Contains("expected dtype F32, found BF16 in the file"), imbdef::error);
    }
}

TEST_CASE("the writer refuses names that would make groups ambiguous") {
    const auto gl = generator_layout();
    nn::parameter_store<float> g(gl);
    core::tensor<float> t(core::shape{2});
    checkpoint_writer w;
    w.add_group("G", g);
    CHECK_THROWS_WITH_AS(w.add_group("G", g), doctest::Contains("a group name that is new"), imbdef::error);
    CHECK_THROWS_WITH_AS(w.add_group("G.ema", g), doctest::Contains("not nested in another"), imbdef::error);
    CHECK_THROWS_WITH_AS(w.add("G.extra", t), doctest::Contains("outside the namespace 'G.'"), imbdef::error);
    CHECK_THROWS_WITH_AS(w.add("__metadata__", t), doctest::Contains("other than '__metadata__'"), imbdef::error);
    CHECK_THROWS_WITH_AS(w.add("", t), doctest::Contains("a non-empty tensor name"), imbdef::error);
    w.add("H.step", t);
    CHECK_THROWS_WITH_AS(w.add("H.step", t), doctest::Contains("'H.step' twice"), imbdef::error);
    CHECK_THROWS_WITH_AS(w.add_group("H", g), doctest::Contains("no tensor added before inside the namespace 'H.'"),
                         imbdef::error);
    CHECK_THROWS_WITH_AS(w.add_group("D_opt.m", gl, nn::tensor_role::parameter, t.cview()),
                         doctest::Contains(("expected " + std::to_string(gl.size(nn::tensor_role::parameter)) +
                                            " flat parameter elements, found 2")
                                               .c_str()),
                         imbdef::error);
    w.set_metadata("bad", std::string("\xff\xfe"));
    CHECK_THROWS_WITH_AS(w.serialize(), doctest::Contains("valid UTF-8"), imbdef::error);
}

TEST_CASE("a failed write leaves the old checkpoint intact and no temporary file") {
    temp_dir dir;
    const fs::path file = dir.path / "ckpt.safetensors";
    core::tensor<float> small(core::shape{4}, 1.0f), large(core::shape{1 << 16}, 2.0f);
    {
        checkpoint_writer w;
        w.add("x", small);
        w.write(file);
    }
    const auto old_bytes = read_bytes(file);
    auto only_the_old_file = [&] {
        CHECK(read_bytes(file) == old_bytes);
        std::size_t entries = 0;
        for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path)) ++entries;
        CHECK(entries == 1);
    };
    checkpoint_writer big;
    big.add("x", large);

    SUBCASE("the disk fills up in the middle of the write") {
        // RLIMIT_FSIZE makes write() fail with EFBIG part way, for root as well.
        rlimit saved{};
        REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
        const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
        rlimit limited = saved;
        limited.rlim_cur = 4096;
        REQUIRE(::setrlimit(RLIMIT_FSIZE, &limited) == 0);
        bool threw = false;
        try {
            big.write(file);
        } catch (const imbdef::error& e) {
            threw = true;
            CHECK(std::string(e.what()).find("write " + file.string()) != std::string::npos);
        }
        ::setrlimit(RLIMIT_FSIZE, &saved);
        std::signal(SIGXFSZ, old_handler);
        CHECK(threw);
        only_the_old_file();
    }
    SUBCASE("the directory is not writable") {
        fs::permissions(dir.path, fs::perms::owner_read | fs::perms::owner_exec);
        const bool enforced = ::access(dir.path.c_str(), W_OK) != 0;  // root ignores the mode bits
        if (enforced) CHECK_THROWS_WITH_AS(big.write(file), doctest::Contains("expected a writable location"), imbdef::error);
        fs::permissions(dir.path, fs::perms::owner_all);
        if (!enforced) MESSAGE("running as root: directory permissions are not enforced, case not exercised");
        only_the_old_file();
    }
    SUBCASE("the directory does not exist") {
        CHECK_THROWS_WITH_AS(big.write(dir.path / "missing" / "ckpt.safetensors"),
                             doctest::Contains("expected a writable location"), imbdef::error);
        only_the_old_file();
    }
}

TEST_CASE("a checkpoint write removes the temporaries that killed writers of the same file left") {
    temp_dir dir;
    const fs::path file = dir.path / "ckpt.safetensors";
    // A process that no longer exists: a child that has exited and been reaped.
    const pid_t dead = ::fork();
    REQUIRE(dead >= 0);
    if (dead == 0) ::_exit(0);
    int status = 0;
    REQUIRE(::waitpid(dead, &status, 0) == dead);
    const std::string d = std::to_string(dead), self = std::to_string(::getpid());
    const auto touch = [&](const std::string& name) { std::ofstream(dir.path / name) << "half a checkpoint"; };
    touch("ckpt.safetensors.tmp-" + d + "-0");     // a killed writer of this file: removed
    touch("ckpt.safetensors.tmp-" + self + "-99");  // a live process's (maybe mid-write): kept
    touch("other.safetensors.tmp-" + d + "-0");    // another file's: not this writer's business
    touch("ckpt.safetensors.tmp-x-0");             // not a temporary's name: kept
    checkpoint_writer w;
    core::tensor<float> small(core::shape{4}, 1.0f);
    w.add("x", small);
    w.write(file);
    CHECK(fs::exists(file));
    CHECK_FALSE(fs::exists(dir.path / ("ckpt.safetensors.tmp-" + d + "-0")));
    CHECK(fs::exists(dir.path / ("ckpt.safetensors.tmp-" + self + "-99")));
    CHECK(fs::exists(dir.path / ("other.safetensors.tmp-" + d + "-0")));
    CHECK(fs::exists(dir.path / "ckpt.safetensors.tmp-x-0"));
    // Without a destination name, every abandoned temporary of the folder goes.
    CHECK(core::remove_abandoned_temporaries(dir.path) == 1);
    CHECK_FALSE(fs::exists(dir.path / ("other.safetensors.tmp-" + d + "-0")));
}
