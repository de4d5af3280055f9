// A checkpoint read by Python's safetensors package, with no code of ours on the Python side.
// Reported as skipped when python3 or its safetensors package is missing.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include <sys/wait.h>
#include <unistd.h>

#include <imbdef/train/checkpoint.hpp>

#include "../support/temp_dir.hpp"

using imbdef::test_support::temp_dir;

#ifndef IMBDEF_PYTHON3
#define IMBDEF_PYTHON3 "python3"
#endif

using namespace imbdef;
using core::index_t;
namespace fs = std::filesystem;

namespace {
// Exits 77 when safetensors is missing; otherwise checks names, dtypes, shapes, values, metadata.
constexpr const char* script = R"py(
import json, sys
try:
    import numpy as np
    from safetensors import safe_open
    from safetensors.numpy import load_file
except ImportError as e:
    print("import failed:", e)
    sys.exit(77)

path = sys.argv[1]
t = load_file(path)
expected = {"G.mapping.fc0.weight": (np.float32, (16, 8)), "G.mapping.w_avg": (np.float32, (8,)),
            "G.synthesis.gain": (np.float32, ()), "D.fc.weight": (np.float64, (3, 5)),
            "G_opt.m.mapping.fc0.weight": (np.float32, (16, 8)), "G_opt.m.synthesis.gain": (np.float32, ()),
            "empty": (np.float32, (0, 3))}
assert set(t) == set(expected), sorted(t)
for name, (dtype, shape) in expected.items():
    assert t[name].dtype == dtype and t[name].shape == shape, (name, t[name].dtype, t[name].shape)
w = t["G.mapping.fc0.weight"]
assert np.array_equal(w.ravel(), np.arange(128, dtype=np.float32) * np.float32(0.25) - np.float32(3)), w
assert np.array_equal(t["D.fc.weight"].ravel(), np.arange(15, dtype=np.float64) / 3.0)
assert t["G.synthesis.gain"] == np.float32(0.5)
assert np.all(t["G.mapping.w_avg"] == np.float32(-1.5))
assert np.all(t["G_opt.m.mapping.fc0.weight"] == np.float32(1e-3))
with safe_open(path, framework="np") as f:
    meta = f.metadata()
doc = json.loads(meta["imbdef"])
assert doc["preset"] == "tiny" and doc["step"] == 42 and doc["images_seen"] == 336, doc
assert doc["rng"]["augment"] == 1 << 40 and abs(doc["ada_p"] - 0.125) == 0, doc
print("python safetensors read", len(t), "tensors")
)py";

}  // namespace

TEST_CASE("Python's safetensors reads an imbdef checkpoint") {
    nn::parameter_layout gl, dl;
    nn::registry(gl).scope("mapping").scope("fc0").parameter("weight", {16, 8}, nn::initializer::zeros());
    nn::registry(gl).scope("mapping").buffer("w_avg", {8}, nn::initializer::constant(-1.5));
    nn::registry(gl).scope("synthesis").parameter("gain", {}, nn::initializer::constant(0.5));
    nn::registry(dl).scope("fc").parameter("weight", {3, 5}, nn::initializer::zeros());
    nn::parameter_store<float> g(gl);
    nn::parameter_store<double> d(dl);
    g.initialize(0);
    d.initialize(0);
    const auto w = g.views()["mapping.fc0.weight"];
    for (index_t i = 0; i < w.numel(); ++i) w[i] = static_cast<float>(i) * 0.25f - 3.0f;
    const auto dw = d.views()["fc.weight"];
    for (index_t i = 0; i < dw.numel(); ++i) dw[i] = static_cast<double>(i) / 3.0;
    core::tensor<float> m(core::shape{gl.size(nn::tensor_role::parameter)}, 1e-3f);
    core::tensor<float> empty(core::shape{0, 3});

    train::checkpoint_writer writer;
    writer.add_group("G", g);
    writer.add_group("D", d);
    writer.add_group("G_opt.m", gl, nn::tensor_role::parameter, m.cview());
    writer.add("empty", empty);
    writer.set_json_metadata({{"preset", "tiny"}, {"step", 42}, {"images_seen", 336},
                              {"rng", {{"augment", 1ull << 40}}}, {"ada_p", 0.125}});
    temp_dir dir;
    const fs::path file = dir.path / "ckpt.safetensors";
    writer.write(file);
    const fs::path py = dir.path / "check.py";
    std::ofstream(py) << script;

    const std::string command = std::string(IMBDEF_PYTHON3) + " '" + py.string() + "' '" + file.string() + "' 2>&1";
    const int status = std::system(command.c_str());
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (code == 77 || code == 127) {
        std::printf("SKIP: python3 with safetensors not found (%s)\n", IMBDEF_PYTHON3);
        return;
    }
    CHECK_MESSAGE(code == 0, "the Python check failed; its output is above");
}
